/* A measurement for issue 20's next lever, not part of the module: Slurm's
 * job list read from slurmctld through libslurm (what slurmrestd does before
 * it renders JSON), timed, then asked again "since" the list's own time.
 * Build and run (needs Debian's libslurm-dev, and SLURM_CONF naming the
 * cluster; munge's credentials as for squeue):
 *   gcc -O2 -o /tmp/slurm_load_jobs bench/slurm_load_jobs.c -lslurm
 *   SLURM_CONF=... /tmp/slurm_load_jobs 3 */
#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 3, i;

    for (i = 0; i < runs; i++) {
        job_info_msg_t *all = NULL, *since = NULL;
        double t0 = seconds(), t1;
        uint32_t j, pending = 0;
        int rc;

        if (slurm_load_jobs(0, &all, SHOW_ALL) != SLURM_SUCCESS) {
            fprintf(stderr, "slurm_load_jobs: %s\n", slurm_strerror(slurm_get_errno()));
            return 1;
        }
        t1 = seconds();
        for (j = 0; j < all->record_count; j++)
            pending += all->job_array[j].job_state == JOB_PENDING;
        printf("%u jobs (%u pending): %.1f ms\n", all->record_count, pending, (t1 - t0) * 1000);
        /* What the sync would ask next: nothing changed is an error code. */
        t0 = seconds();
        rc = slurm_load_jobs(all->last_update, &since, SHOW_ALL);
        printf("  since the list's time: %s, %.2f ms\n",
               rc == SLURM_SUCCESS ? "changed" : slurm_strerror(slurm_get_errno()),
               (seconds() - t0) * 1000);
        if (rc == SLURM_SUCCESS)
            slurm_free_job_info_msg(since);
        slurm_free_job_info_msg(all);
    }
    return 0;
}
