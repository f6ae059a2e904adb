# Runs `aphelion run` on the example transformer block (the README's main job) and checks what it
# prints and the Chrome trace it writes.
# Usage: cmake -DCLI=... -DGRAPH=... -DWEIGHTS=... -DTRACE=... -P check_cli_run.cmake
execute_process(COMMAND ${CLI} run ${GRAPH} --device cpu --weights ${WEIGHTS} --iterations 3
                        --trace ${TRACE} --check-numerics
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "aphelion run: exit code ${rc}\nstdout:\n${out}\nstderr:\n${err}")
endif()
foreach(expect
        "\\[1/6\\] validation" "\\[4/6\\] plan" "\\[5/6\\] inputs" "\\[6/6\\] execute"
        "hash    [0-9a-f]+\n"
        "memory plan\n  peak [0-9.]+ [KMG]?i?B \\(budget none\\): arena"
        "q_proj +linear +f32 +\\[2, 64, 256\\]"
        "attention +attention +f32 +\\[2, 64, 8, 32\\]"
        "nodes \\(mean over 3 runs"
        "y +f32 \\[2, 64, 256\\]  sum = -?[0-9]+\\.[0-9]+, sum \\|y\\| = [0-9]+\\.[0-9]+"
        "trace   .*spans")
    if(NOT out MATCHES "${expect}")
        message(FATAL_ERROR "aphelion run: output lacks /${expect}/:\n${out}")
    endif()
endforeach()
file(READ ${TRACE} trace)
string(JSON n LENGTH "${trace}" traceEvents)
string(JSON unit GET "${trace}" displayTimeUnit)
# 6 stages + (16 computing nodes + 1 run span) x 3 runs, plus the stages' events.
if(n LESS 57 OR NOT unit STREQUAL "ms")
    message(FATAL_ERROR "trace: ${n} events, displayTimeUnit ${unit}")
endif()
set(nodes 0)
math(EXPR last "${n} - 1")
foreach(i RANGE ${last})
    string(JSON cat GET "${trace}" traceEvents ${i} cat)
    string(JSON ph GET "${trace}" traceEvents ${i} ph)
    if(cat STREQUAL "node" AND ph STREQUAL "X")
        string(JSON dev GET "${trace}" traceEvents ${i} args device)
        string(JSON bytes GET "${trace}" traceEvents ${i} args bytes)
        if(NOT dev STREQUAL "cpu" OR bytes LESS 1)
            message(FATAL_ERROR "trace: node span ${i} has device '${dev}', bytes ${bytes}")
        endif()
        math(EXPR nodes "${nodes} + 1")
    endif()
endforeach()
if(NOT nodes EQUAL 48)
    message(FATAL_ERROR "trace: ${nodes} node spans, expected 16 nodes x 3 runs")
endif()
message(STATUS "aphelion run: ok, ${n} trace events, ${nodes} node spans")
