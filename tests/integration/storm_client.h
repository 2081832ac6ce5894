/*
 * tests/integration/storm_client.h — what the storm_client helper reports
 * to test_connect.c: one record per process, written whole to fd 5.
 */
#ifndef TESTS_INTEGRATION_STORM_CLIENT_H
#define TESTS_INTEGRATION_STORM_CLIENT_H

#define STORM_ERRS 4 /* distinct lm_client_open errors one process reports */
#define STORM_GO_FD 3 /* end of file here: start */
#define STORM_READY_FD 4 /* one byte here: every thread is waiting for go */
#define STORM_REPORT_FD 5 /* the storm_report */

typedef struct storm_report {
    int opened, open_failed, ping_failed, invoke_failed;
    struct {
        char msg[512];
        int n;
    } errs[STORM_ERRS];
} storm_report;

#endif
