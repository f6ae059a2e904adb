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
else()
    message(WARNING "python3 >= 3.11 not found: the bad-input sweep (test_sweep) is not built")
endif()
