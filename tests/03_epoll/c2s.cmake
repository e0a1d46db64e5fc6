# Chapter 3, c2s_server (epoll) with chapter 2's c2s_client (included by
# CMakeLists.txt here).
#
# c2s_*.pair are copies of tests/02_nonblocking/c2s_*.pair whose `set
# SERVER` line names this chapter's server: both servers must pass the same
# scenarios. c2s_usage differs as well (there is no --spin here). Two more
# are this server's own: EMFILE handled with the spare descriptor, and a
# stdin epoll cannot watch (/dev/null, a regular file). Those two run the
# server under sh (ulimit, redirection), where valgrind would not see it.
add_pair_test(ch03.c2s_chat c2s_chat.pair)
add_pair_test(ch03.c2s_long_line c2s_long_line.pair)
add_pair_test(ch03.c2s_trickle c2s_trickle.pair)
add_pair_test(ch03.c2s_vanish c2s_vanish.pair)
add_pair_test(ch03.c2s_stdin c2s_stdin.pair)
add_pair_test(ch03.c2s_full c2s_full.pair)
add_pair_test(ch03.c2s_stalled c2s_stalled.pair TIMEOUT 60)
add_pair_test(ch03.c2s_usage c2s_usage.pair)
add_pair_test(ch03.c2s_emfile c2s_emfile.pair NO_VALGRIND)
add_pair_test(ch03.c2s_stdin_file c2s_stdin_file.pair NO_VALGRIND)
