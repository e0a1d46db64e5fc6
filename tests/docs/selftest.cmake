# selftest.cmake - doc_check's own test, run by CTest as docs.checker_selftest:
#   cmake -D DOC_CHECK=path/to/doc_check -D FIXTURES=tests/docs/fixtures
#         -P selftest.cmake
#
# Each case runs doc_check on one directory of fixtures/ (as the docs) with
# fixtures/ as the source tree, then checks the exit status and that the
# output says why. A case that passes when it should fail, or fails for
# another reason than the one expected, fails the test; every case runs, so
# one run shows every failure.

foreach(var DOC_CHECK FIXTURES)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "selftest.cmake: -D ${var}=... is required")
    endif()
endforeach()

set(failed 0)

# expect(NAME STATUS REGEX ARGS...): run doc_check ARGS...; it must exit
# with STATUS, and its stderr followed by its stdout must match REGEX.
# (Read apart and then joined: two pipes read together interleave at
# random.)
function(expect name want_status want_output)
    execute_process(COMMAND "${DOC_CHECK}" ${ARGN}
                    RESULT_VARIABLE status
                    OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr
                    TIMEOUT 20)
    set(out "${stderr}${stdout}")
    if(NOT status STREQUAL want_status)
        message("FAIL ${name}: exit status ${status}, want ${want_status}:\n"
                "${out}")
    elseif(NOT out MATCHES "${want_output}")
        message("FAIL ${name}: the output does not match\n"
                "  ${want_output}\ngot:\n${out}")
    else()
        message("ok   ${name} (exit ${status})")
        return()
    endif()
    math(EXPR n "${failed} + 1")
    set(failed ${n} PARENT_SCOPE)
endfunction()

# expect_docs(DIR STATUS REGEX): doc_check on fixtures/DIR. (A function,
# not a macro: a macro would evaluate the escapes in REGEX a second time.)
function(expect_docs dir want_status want_output)
    expect(${dir} ${want_status} "${want_output}"
           --docs "${FIXTURES}/${dir}" "${FIXTURES}")
    set(failed ${failed} PARENT_SCOPE)
endfunction()

# Regular expressions: \\( is a literal parenthesis, \\+ a literal plus.
expect_docs(good 0
    "^doc_check: 6 code blocks and 10 links in 1 Markdown file: ok\n$")
expect_docs(drift 1
    "^drift/drift.md:9: block not found in code/sample.c \\(first differing line: \"    for \\(int i = 0\; i < n\; i\\+\\+\\) {\"\\)\ncode/sample.c:14: closest match: \"    for \\(int i = 1\; i <= n\; i\\+\\+\\) {\"\ndoc_check: 1 problem in drift\ndoc_check: 1 code block and 1 link in 1 Markdown file: FAILED\n$")
expect_docs(order 1
    "^order/order.md:9: block not found in code/sample.c \\(segments out of order: this one is at code/sample.c:11, before the previous one\\)\n")
expect_docs(noname 1
    "^noname/noname.md:5: ```c block names no source file on the line above")
expect_docs(missing_file 1
    "^missing_file/missing_file.md:3: block names code/gone.c: ENOENT")
expect_docs(broken_link 1
    "^broken_link/broken_link.md:3: broken link ../code/old_sample.c: code/old_sample.c does not exist\nbroken_link/broken_link.md:3: broken link chapter.md: broken_link/chapter.md does not exist\ndoc_check: 2 problems")
expect_docs(mismatch 1
    "^mismatch/mismatch.md:3: a link.s label and target name different files \\(the target is code/sample.c\\)\n")
expect_docs(unclosed 1
    "^unclosed/unclosed.md:5: code fence never closed\n")
# A directory without Markdown is an error, not an easy pass.
expect(no_markdown 1 "no \\.md files" --docs "${FIXTURES}/code" "${FIXTURES}")
expect(usage 2 "^usage: doc_check")

if(failed GREATER 0)
    message(FATAL_ERROR "doc_check self-test: ${failed} case(s) failed")
endif()
message("doc_check self-test: every case as expected")
