# Chapter 3, the reactor's HTTP server (03_epoll/http_server.c on
# reactor.c); included by CMakeLists.txt here. The chapter-2 scenarios
# (raw keep-alive and pipelining, curl with a file big enough to meet
# EAGAIN, ab, the timeouts, the connection limit) run against it
# unchanged but for its name, plus its own: --threads, -q, and the idle
# timeout re-armed by each request.
add_pair_test(ch03.http_raw http_raw.pair)
add_pair_test(ch03.http_curl http_curl.pair TIMEOUT 60)
add_pair_test(ch03.http_timeout http_timeout.pair TIMEOUT 40)
add_pair_test(ch03.http_idle http_idle.pair TIMEOUT 40)
# The server runs under sh or bash (for ulimit), so valgrind would not see
# it.
add_pair_test(ch03.http_limit http_limit.pair NO_VALGRIND)
add_pair_test(ch03.http_emfile http_emfile.pair NO_VALGRIND)
add_pair_test(ch03.http_ab http_ab.pair TIMEOUT 60)
add_pair_test(ch03.http_threads http_threads.pair TIMEOUT 60)
add_pair_test(ch03.http_quiet http_quiet.pair)
add_pair_test(ch03.http_usage http_usage.pair)
add_http_hostile_test(ch03.http_hostile ch03_http_server)
