# Every translation unit of the library includes nlohmann/json through runtime/core/json.hpp,
# which makes its destructor safe when memory runs out (see there): a direct include would
# bring the aborting destructor back. Fails naming each file that includes it directly.
file(GLOB_RECURSE _files ${SOURCE_DIR}/runtime/*.cpp ${SOURCE_DIR}/runtime/*.hpp ${SOURCE_DIR}/runtime/*.h)
set(_bad "")
foreach(_f ${_files})
    if(_f MATCHES "runtime/core/json.hpp$")
        continue()
    endif()
    file(STRINGS ${_f} _lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]nlohmann/")
    if(_lines)
        list(APPEND _bad ${_f})
    endif()
endforeach()
if(_bad)
    message(FATAL_ERROR "include runtime/core/json.hpp instead of nlohmann/json directly in: ${_bad}")
endif()
message(STATUS "nlohmann/json is included only through runtime/core/json.hpp")
