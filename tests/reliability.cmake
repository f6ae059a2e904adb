# Reliability tests (issue 21), included from tests/CMakeLists.txt: the bad-input sweep
# (tests/sweep/), fault injection (tests/fault/), the fuzz targets and their regression inputs
# (tests/fuzz/), the threaded soak (tests/soak/) and valgrind memcheck over the examples and the
# command (label valgrind).

# ---- fault injection (APHELION_FAULT_INJECTION=ON: CI's ASan stage, where LeakSanitizer
# checks that nothing leaks on any failure path) ----
if(APHELION_FAULT_INJECTION)
    add_executable(test_fault_injection fault/test_fault_injection.c fault/fault_control.cpp)
    target_include_directories(test_fault_injection PRIVATE ${PROJECT_SOURCE_DIR}/runtime/core)
    target_link_libraries(test_fault_injection PRIVATE aphelion Threads::Threads)
    target_compile_options(test_fault_injection PRIVATE -Wall -Wextra $<$<BOOL:${APHELION_WERROR}>:-Werror>)
    # The library finds the control block with dlsym: export it from the executable.
    target_link_options(test_fault_injection PRIVATE "LINKER:--export-dynamic-symbol=aph_fault_injection_control")
    aph_c_test(test_fault_injection LABELS fault)
    # The same walk on a CUDA device (the simulated module): CUDA memory, page-locked staging
    # buffers, copies between host and device.
    aph_c_test(test_fault_injection_sim EXE test_fault_injection LABELS "fault;sim"
        ENV APH_TEST_DEVICE=cuda APHELION_CUDA_MODULE=$<TARGET_FILE:aph_sim_cuda> SIM_CUDA_DEVICES=1)
    set_tests_properties(test_fault_injection test_fault_injection_sim PROPERTIES TIMEOUT 600)
endif()

# ---- the bad-input sweep: its cases are generated at build time from the header, so a new
# function is swept without anyone adding it (tests/sweep/gen_sweep.py) ----
find_package(Python3 3.11 COMPONENTS Interpreter)  # tomllib
if(Python3_Interpreter_FOUND)
    set(_sweep_c ${CMAKE_CURRENT_BINARY_DIR}/sweep_cases.c)
    add_custom_command(OUTPUT ${_sweep_c}
        COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/sweep/gen_sweep.py
                --header ${PROJECT_SOURCE_DIR}/include/aphelion.h
                --table ${CMAKE_CURRENT_SOURCE_DIR}/sweep/sweep_table.toml --out ${_sweep_c}
        DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/sweep/gen_sweep.py ${CMAKE_CURRENT_SOURCE_DIR}/sweep/sweep_table.toml
                ${PROJECT_SOURCE_DIR}/include/aphelion.h ${PROJECT_SOURCE_DIR}/tools/aphelion_header.py
        COMMENT "Generating the bad-input sweep from include/aphelion.h"
        VERBATIM)
    add_executable(test_sweep ${_sweep_c} sweep/sweep_support.c)
    target_include_directories(test_sweep PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/sweep)
    target_link_libraries(test_sweep PRIVATE aphelion PkgConfig::CMOCKA Threads::Threads)
    target_compile_options(test_sweep PRIVATE -Wall -Wextra $<$<BOOL:${APHELION_WERROR}>:-Werror>)
    aph_c_test(test_sweep LABELS sweep)
    # The sweep's handling of functions it knows nothing of (a new header section, its rows not
    # written yet): section 22's functions and handle type with their rows forgotten must give
    # NOTEs and sweep provisionally, never fail.
    set(_sweep_new_c ${CMAKE_CURRENT_BINARY_DIR}/sweep_cases_new_section.c)
    add_custom_command(OUTPUT ${_sweep_new_c}
        COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/sweep/gen_sweep.py
                --header ${PROJECT_SOURCE_DIR}/include/aphelion.h
                --table ${CMAKE_CURRENT_SOURCE_DIR}/sweep/sweep_table.toml --out ${_sweep_new_c}
                --only "^aph_tokenizer_" --pretend-new "^aph_tokenizer_" --pretend-new-handle aph_tokenizer
        DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/sweep/gen_sweep.py ${CMAKE_CURRENT_SOURCE_DIR}/sweep/sweep_table.toml
                ${PROJECT_SOURCE_DIR}/include/aphelion.h ${PROJECT_SOURCE_DIR}/tools/aphelion_header.py
        COMMENT "Generating the bad-input sweep of a pretended new section"
        VERBATIM)
    add_executable(test_sweep_new_section ${_sweep_new_c} sweep/sweep_support.c)
    target_include_directories(test_sweep_new_section PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
        ${CMAKE_CURRENT_SOURCE_DIR}/sweep)
    target_link_libraries(test_sweep_new_section PRIVATE aphelion PkgConfig::CMOCKA Threads::Threads)
    target_compile_options(test_sweep_new_section PRIVATE -Wall -Wextra $<$<BOOL:${APHELION_WERROR}>:-Werror>)
    aph_c_test(test_sweep_new_section LABELS sweep)
    set_tests_properties(test_sweep_new_section PROPERTIES
        PASS_REGULAR_EXPRESSION "\\([1-9][0-9]* swept provisionally\\), [0-9]+ cases, 0 failures"
        FAIL_REGULAR_EXPRESSION "SWEEP FAIL")
else()
    message(WARNING "python3 >= 3.11 not found: the bad-input sweep (test_sweep) is not built")
endif()

# ---- fuzz targets (tests/fuzz/): with APHELION_FUZZ=ON (Clang; CI's ASan stage) linked with
# libFuzzer and run for APHELION_FUZZ_SECONDS each (label fuzz); everywhere their committed
# seeds (tests/fuzz/<target>/) and regression inputs (tests/fuzz/regressions/<target>/, each a
# crash once found) run once as ordinary tests ----
set(APHELION_FUZZ_SECONDS 15 CACHE STRING "Seconds each fuzz target runs in the fuzz tests (label fuzz)")
set(_fuzz_dir ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
foreach(_t graph_json safetensors dlpack tokenizer sequence)
    set(_exe fuzz_${_t})
    if(APHELION_FUZZ)
        add_executable(${_exe} fuzz/${_exe}.c)
        target_link_options(${_exe} PRIVATE -fsanitize=fuzzer)
    else()
        add_executable(${_exe} fuzz/${_exe}.c fuzz/standalone_main.c)
    endif()
    target_link_libraries(${_exe} PRIVATE aphelion Threads::Threads)
    target_compile_options(${_exe} PRIVATE -Wall -Wextra $<$<BOOL:${APHELION_WERROR}>:-Werror>)
    # The seeds, and the regression inputs once there are any (a crash found, kept for good).
    set(_inputs ${_fuzz_dir}/${_t})
    file(GLOB _regressions CONFIGURE_DEPENDS ${_fuzz_dir}/regressions/${_t}/*)
    if(_regressions)
        list(APPEND _inputs ${_fuzz_dir}/regressions/${_t})
    endif()
    if(APHELION_FUZZ)
        # -runs=0: every seed and regression input once, then exit.
        add_test(NAME ${_exe}_inputs COMMAND ${_exe} -runs=0 ${_inputs})
        # A working corpus in the build tree (libFuzzer adds what it finds to the first
        # directory), the committed seeds read-only; crashes land in fuzz-artifacts/.
        set(_work ${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus/${_t})
        set(_art ${CMAKE_CURRENT_BINARY_DIR}/fuzz-artifacts)
        file(MAKE_DIRECTORY ${_work} ${_art})
        add_test(NAME ${_exe} COMMAND ${_exe} -max_total_time=${APHELION_FUZZ_SECONDS} -timeout=60
            -rss_limit_mb=3072 -print_final_stats=1 -artifact_prefix=${_art}/${_t}- ${_work} ${_inputs})
        set_tests_properties(${_exe} PROPERTIES LABELS "fuzz" TIMEOUT 600
            ENVIRONMENT "APHELION_LOG=;APHELION_FORCE_CPU=1;APHELION_CUDA_MODULE=")
    else()
        add_test(NAME ${_exe}_inputs COMMAND ${_exe} ${_inputs})
    endif()
    set_tests_properties(${_exe}_inputs PROPERTIES LABELS "c;fuzz-inputs" TIMEOUT 300
        ENVIRONMENT "APHELION_LOG=;APHELION_FORCE_CPU=1;APHELION_CUDA_MODULE=")
endforeach()

# nlohmann/json only through runtime/core/json.hpp (its destructor's fix for running out of memory).
add_test(NAME json_include_rule COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
    -P ${CMAKE_CURRENT_SOURCE_DIR}/check_json_include.cmake)
set_tests_properties(json_include_rule PROPERTIES LABELS "abi")

# ---- soak under threads (CI runs it under ThreadSanitizer too); APH_SOAK_SECONDS sizes it ----
add_executable(test_soak_threads soak/test_soak_threads.c)
target_link_libraries(test_soak_threads PRIVATE aphelion Threads::Threads)
target_compile_options(test_soak_threads PRIVATE -Wall -Wextra $<$<BOOL:${APHELION_WERROR}>:-Werror>)
aph_c_test(test_soak_threads LABELS soak ENV APH_SOAK_SECONDS=3 APH_SOAK_THREADS=4)

# ---- valgrind memcheck over the examples and the command (label valgrind): no invalid access,
# no use of uninitialised memory, no leak (definite or indirect). Built where valgrind can run
# them: a build without sanitizers (CI's first stage). tests/valgrind/aphelion.supp lists the
# third-party libraries' reports (OpenBLAS, the CUDA runtime), nothing of libaphelion's. ----
find_program(APH_VALGRIND valgrind)
if(APH_VALGRIND AND NOT APHELION_SANITIZE)
    set(_vg ${APH_VALGRIND} --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect
        --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --num-callers=30
        --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/valgrind/aphelion.supp)
    set(_vg_env "APHELION_LOG=;APHELION_FORCE_CPU=1")
    foreach(_e device_tracker dlpack_exchange transformer_layer)
        add_executable(vg_${_e} ${PROJECT_SOURCE_DIR}/examples/${_e}.c)
        target_link_libraries(vg_${_e} PRIVATE aphelion m)
        add_test(NAME valgrind_example_${_e} COMMAND ${_vg} $<TARGET_FILE:vg_${_e}>)
        set_tests_properties(valgrind_example_${_e} PROPERTIES PASS_REGULAR_EXPRESSION "example: ok")
        list(APPEND _vg_tests valgrind_example_${_e})
    endforeach()
    set(_graphs ${PROJECT_SOURCE_DIR}/examples/graphs)
    set(_gen ${CMAKE_CURRENT_BINARY_DIR}/valgrind-graphs)
    # build_examples writes the example graphs and their weights, then runs both (its --run).
    add_test(NAME valgrind_build_examples COMMAND ${_vg} $<TARGET_FILE:build_examples> ${_gen} --run)
    set_tests_properties(valgrind_build_examples PROPERTIES FIXTURES_SETUP valgrind_graphs)
    list(APPEND _vg_tests valgrind_build_examples)
    set(_cli_cases
        "info" "--version" "--help" "hash|${_graphs}/mlp.json" "dot|${_graphs}/mlp.json"
        "validate|${_graphs}/transformer_block.json|--executable"
        "run|${_graphs}/transformer_block.json|--weights|${_gen}/transformer_block.safetensors|--iterations|2|--check-numerics|--trace|${_gen}/trace.json")
    set(_i 0)
    foreach(_case ${_cli_cases})
        string(REPLACE "|" ";" _args "${_case}")
        list(GET _args 0 _name)
        string(REGEX REPLACE "^-+" "" _name "${_name}")
        add_test(NAME valgrind_cli_${_name} COMMAND ${_vg} $<TARGET_FILE:aphelion_cli> ${_args})
        list(APPEND _vg_tests valgrind_cli_${_name})
    endforeach()
    set_tests_properties(valgrind_cli_run PROPERTIES FIXTURES_REQUIRED valgrind_graphs)
    set_tests_properties(${_vg_tests} PROPERTIES LABELS "valgrind" TIMEOUT 600 ENVIRONMENT "${_vg_env}")
endif()

# ---- the ABI guard's own test (tools/abi.sh on relinked variants of this build's library: a
# function removed or a struct member inserted fails, a function added or a member appended
# passes). The check against the committed baseline is .ci/run's (tools/abi.sh check). Needs a
# Ninja build with debug information and abigail-tools (else skipped, 77). ----
if(CMAKE_GENERATOR MATCHES "Ninja" AND NOT APHELION_SANITIZE AND NOT APHELION_FUZZ)
    add_test(NAME abi_guard COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/abi/test_abi_guard.sh ${PROJECT_BINARY_DIR})
    set_tests_properties(abi_guard PROPERTIES LABELS "abi" SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
