/* loadgen: `imconform bench`, the load generator of issue 10 (contract:
 * BENCH_API.md). loadgen_main parses the command line, forks the workers
 * (loadgen_worker.c), prints progress on stderr and the result lines on
 * stdout; it owns everything it allocates and frees it before returning.
 * argv[0] is "bench". Returns 0 ok, 1 a run failed, 2 usage. */
#ifndef IMREF_LOADGEN_H
#define IMREF_LOADGEN_H

int loadgen_main(int argc, char **argv);

#endif
