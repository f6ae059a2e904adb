# ctest script: runs build_examples EXE into OUT (emptied first) and compares each generated
# JSON with its checked-in copy in SRC. On a difference it says how to update the copies.
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
execute_process(COMMAND ${EXE} ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "build_examples failed (${rc})")
endif()
foreach(name mlp transformer_block)
    execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT}/${name}.json ${SRC}/${name}.json
        RESULT_VARIABLE diff)
    if(NOT diff EQUAL 0)
        message(FATAL_ERROR "examples/graphs/${name}.json differs from what build_examples writes "
            "(${OUT}/${name}.json); if the change is intended, copy it over the checked-in file")
    endif()
endforeach()
message(STATUS "example graphs up to date")
