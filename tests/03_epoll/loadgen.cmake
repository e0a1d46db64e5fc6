# Chapter 3, lt_et_demo and loadgen (included by CMakeLists.txt here).
#
# lt_et_demo exits 1 when the kernel does not do what a line claims; its
# script checks every line. loadgen exits 1 on any failed connection, error
# or mismatched byte; its scripts check the summary key by key.
add_pair_test(ch03.lt_et_demo lt_et_demo.pair)
add_pair_test(ch03.lt_et_usage lt_et_usage.pair)
add_pair_test(ch03.loadgen_usage loadgen_usage.pair)
add_pair_test(ch03.loadgen_epoll loadgen_epoll.pair)
add_pair_test(ch03.loadgen_poll_1000 loadgen_poll_1000.pair TIMEOUT 60)
add_pair_test(ch03.loadgen_epoll_1000 loadgen_epoll_1000.pair TIMEOUT 60)
add_pair_test(ch03.loadgen_epoll_et_1000 loadgen_epoll_et_1000.pair TIMEOUT 60)
add_pair_test(ch03.loadgen_reactor_1000 loadgen_reactor_1000.pair TIMEOUT 60)
add_pair_test(ch03.loadgen_big loadgen_big.pair TIMEOUT 60)
add_pair_test(ch03.loadgen_idle loadgen_idle.pair)
add_pair_test(ch03.loadgen_duration loadgen_duration.pair)
add_pair_test(ch03.loadgen_refused loadgen_refused.pair)
add_pair_test(ch03.loadgen_mismatch loadgen_mismatch.pair)
add_pair_test(ch03.loadgen_vanish loadgen_vanish.pair)
# loadgen runs under sh (for ulimit): valgrind sees only the server.
add_pair_test(ch03.loadgen_emfile loadgen_emfile.pair)

# C10K: 10,000 idle connections, then a message on each (label "stress",
# no valgrind run). It needs a descriptor limit of 10,100 in each of the
# two processes; `loadgen --check-fds` exits 77 (CTest: skipped, with the
# reason on stdout) when the hard limit is lower. sh only runs that check
# and then becomes pair_driver (exec), as add_pair_test would run it.
add_test(NAME ch03.loadgen_c10k
         COMMAND sh -c "\"$0\" --check-fds 10100 || exit $?; exec \"$@\""
                 $<TARGET_FILE:ch03_loadgen>
                 $<TARGET_FILE:pair_driver> --timeout 115
                 --bin "${PROJECT_BINARY_DIR}" --src "${PROJECT_SOURCE_DIR}"
                 "${CMAKE_CURRENT_SOURCE_DIR}/loadgen_c10k.pair")
set_tests_properties(ch03.loadgen_c10k PROPERTIES
    TIMEOUT 120 SKIP_RETURN_CODE 77 LABELS "pair;stress")
