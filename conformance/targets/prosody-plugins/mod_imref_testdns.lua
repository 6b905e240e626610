-- mod_imref_testdns: makes Prosody's legacy DNS resolver (net.dns, used
-- through net.adns when lua-unbound is absent) ask only the test DNS server
-- of ci/run-conformance, never /etc/resolv.conf's servers on port 53.
--   imref_testdns = "127.0.0.1:PORT"   -- numeric loopback address and port
-- Three layers, all installed when the module loads (before any s2s
-- lookup; net.dns reads its server list lazily at the first query):
--   1. resolver:adddefaultnameservers() adds only the test address;
--   2. the socket wrapper net.adns installs (socket_wrapper_set) connects
--      its handler to the test port instead of 53;
--   3. every LuaSocket UDP socket's setpeername() is redirected the same
--      way when it names port 53, and refused for a non-loopback address,
--      so that no code path (net.dns used without net.adns included) can
--      query another server.
module:set_global();

local socket = require "socket";
local dns = require "net.dns";

local option = module:get_option_string("imref_testdns");
if not option then
	error("imref_testdns is not set (\"127.0.0.1:PORT\")");
end
local test_addr, test_port = option:match("^(127%.%d+%.%d+%.%d+):(%d+)$");
test_port = tonumber(test_port);
if not test_addr or not test_port or test_port < 1 or test_port > 65535 then
	error("imref_testdns must be a 127.x.x.x address and a port, not " .. option);
end

local function is_loopback(addr)
	return type(addr) == "string" and (addr:match("^127%.%d+%.%d+%.%d+$") ~= nil or addr == "::1");
end

-- 3. UDP sockets: LuaSocket keeps the methods of each class ("udp{unconnected}",
-- "udp{connected}") in the __index table of its metatable.
local function guard_udp_class(sock)
	local index = getmetatable(sock).__index;
	if type(index) ~= "table" or index.imref_testdns_guarded then return; end
	local setpeername = index.setpeername;
	index.setpeername = function (self, addr, port, ...)
		if addr ~= "*" and tonumber(port) == 53 then
			module:log("debug", "DNS socket: %s:53 redirected to %s:%d", tostring(addr), test_addr, test_port);
			addr, port = test_addr, test_port;
		end
		if addr ~= "*" and not is_loopback(addr) then
			module:log("error", "refusing UDP peer %s:%s (not loopback)", tostring(addr), tostring(port));
			return nil, "imref_testdns: not a loopback address";
		end
		return setpeername(self, addr, port, ...);
	end
	index.imref_testdns_guarded = true;
end
do
	local sock = assert((socket.udp4 or socket.udp)());
	guard_udp_class(sock);
	assert(sock:setpeername("127.0.0.1", test_port));
	guard_udp_class(sock);
	sock:close();
end

-- 1. and 2. on the resolver class every net.dns resolver shares.
local resolver_mt = getmetatable(dns.resolver());

function resolver_mt:adddefaultnameservers()
	self.server = { test_addr };
end

local socket_wrapper_set = resolver_mt.socket_wrapper_set;
function resolver_mt:socket_wrapper_set(wrap)
	return socket_wrapper_set(self, function (sock, resolver)
		local handler, err = wrap(sock, resolver);
		if not handler then return nil, err; end
		local setpeername = handler.setpeername;
		handler.setpeername = function (h, addr, port, ...) -- luacheck: ignore 212/addr 212/port
			module:log("debug", "DNS handler: querying %s:%d", test_addr, test_port);
			return setpeername(h, test_addr, test_port, ...);
		end
		return handler;
	end);
end

-- Resolvers created before this module loaded (net.dns's own) may already
-- hold a server list: replace it.
dns._resolver.server = { test_addr };

module:log("info", "DNS queries go to %s:%d only", test_addr, test_port);
