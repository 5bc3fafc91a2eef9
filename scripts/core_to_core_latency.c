/*
 * Measure how long one cache line takes to travel from one CPU to another and back.
 *
 * Two threads, each pinned to one CPU, pass a flag back and forth: the first sets it to 1 and spins
 * until it reads 0, the second spins until it reads 1 and writes 0. Each round trip moves the flag's
 * cache line from one core's cache to the other's twice. The program prints the mean round trip in
 * nanoseconds. On machine 4 of docs/benchmarks.md it took either 49 to 77 ns or 374 to 473 ns, and the
 * two-thread training step was slow while it took the longer times.
 *
 * With --latency-probe, benchmark_thread_phases.py and benchmark_training_step.py run it between their
 * timed blocks.
 *
 * It needs Linux, for pthread_setaffinity_np.
 *
 *     make latency-probe        # builds build/core_to_core_latency
 *     build/core_to_core_latency [CPU_A CPU_B [ROUND_TRIPS]]    # defaults: 0 1 200000
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WARM_UP_ROUND_TRIPS 1000
#define USAGE                                                                                         \
    "usage: %s [CPU_A CPU_B [ROUND_TRIPS]]\n"                                                         \
    "Print the mean round trip of a cache line between CPU_A and CPU_B, in nanoseconds.\n"            \
    "Defaults: CPUs 0 and 1, 200000 round trips.\n"

/* The flag sits alone in its 64-byte cache line, so nothing else travels with it. */
static _Alignas(64) atomic_int flag;
static long round_trips;
/* 0 while the responder starts, then 1 once it runs on its CPU or -1 if it could not be pinned there. */
static atomic_int responder_state;

static int pin_to_cpu(int cpu)
{
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(cpu, &cpus);
    return pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus);
}

static void *responder(void *cpu)
{
    if (pin_to_cpu(*(int *)cpu) != 0) {
        atomic_store(&responder_state, -1);
        return NULL;
    }
    atomic_store(&responder_state, 1);
    for (long i = 0; i < WARM_UP_ROUND_TRIPS + round_trips; i++) {
        while (atomic_load_explicit(&flag, memory_order_acquire) != 1)
            ;
        atomic_store_explicit(&flag, 0, memory_order_release);
    }
    return NULL;
}

static void send_and_wait(void)
{
    atomic_store_explicit(&flag, 1, memory_order_release);
    while (atomic_load_explicit(&flag, memory_order_acquire) != 0)
        ;
}

static int parse_number(const char *text, const char *name, long minimum, long *value)
{
    char *end;
    errno = 0;
    *value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || *value < minimum) {
        fprintf(stderr, "error: invalid %s '%s': expected a whole number of at least %ld\n", name, text, minimum);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long cpu_a = 0, cpu_b = 1;
    round_trips = 200000;
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf(USAGE, argv[0]);
        return 0;
    }
    if (argc != 1 && argc != 3 && argc != 4) {
        fprintf(stderr, USAGE, argv[0]);
        return 2;
    }
    if (argc >= 3 && (parse_number(argv[1], "CPU_A", 0, &cpu_a) || parse_number(argv[2], "CPU_B", 0, &cpu_b)))
        return 2;
    if (argc == 4 && parse_number(argv[3], "ROUND_TRIPS", 1, &round_trips))
        return 2;
    if (cpu_a == cpu_b) {
        fprintf(stderr, "error: CPU_A and CPU_B must be two different CPUs, got %ld twice\n", cpu_a);
        return 2;
    }
    if (cpu_a >= CPU_SETSIZE || cpu_b >= CPU_SETSIZE) {
        fprintf(stderr, "error: CPU numbers must be below %d, got %ld and %ld\n", CPU_SETSIZE, cpu_a, cpu_b);
        return 2;
    }

    int error = pin_to_cpu((int)cpu_a);
    if (error != 0) {
        fprintf(stderr, "error: failed to pin a thread to CPU %ld (%s). Pick CPU numbers below the count that 'nproc' prints.\n",
                cpu_a, strerror(error));
        return 1;
    }
    int responder_cpu = (int)cpu_b;
    pthread_t thread;
    error = pthread_create(&thread, NULL, responder, &responder_cpu);
    if (error != 0) {
        fprintf(stderr, "error: failed to start the second thread (%s)\n", strerror(error));
        return 1;
    }

    while (atomic_load(&responder_state) == 0)
        ;
    if (atomic_load(&responder_state) < 0) {
        fprintf(stderr, "error: failed to pin a thread to CPU %ld. Pick CPU numbers below the count that 'nproc' prints.\n",
                cpu_b);
        return 1;
    }

    struct timespec start, end;
    for (int i = 0; i < WARM_UP_ROUND_TRIPS; i++)
        send_and_wait();
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < round_trips; i++)
        send_and_wait();
    clock_gettime(CLOCK_MONOTONIC, &end);
    pthread_join(thread, NULL);

    double nanoseconds = (end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec);
    printf("%.0f\n", nanoseconds / round_trips);
    return 0;
}
