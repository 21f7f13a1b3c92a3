# The public headers as a user sees them (ctest: headers). Run with cmake -P:
#   -DINCLUDE_DIR=<repo>/include -DOPENCL_INCLUDE_DIRS=<dirs, |-separated>
#   -DC_COMPILER=<cc> [-DCXX_COMPILER=<c++>] -DWORK_DIR=<scratch directory>
# Checks, for every include/memwrap/*.h found now (a header added later is covered without
# reconfiguring):
#   1. it compiles on its own as C11, with only include/ and OpenCL's headers on the include
#      path (so it includes everything it uses, and nothing from engine/), warning-free under
#      -Wall -Wextra -pedantic; and as C++ when a C++ compiler is given;
#   2. it has an include guard and extern "C" guards (C++ users link against a C library),
#      and quotes no header but "memwrap/<name>.h";
#   3. memwrap/memwrap.h, the umbrella, includes it, and the umbrella itself compiles in C11
#      and C++.
# Every problem is listed before the script fails.
foreach(var INCLUDE_DIR C_COMPILER WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "test_headers.cmake: -D${var}=... is required")
  endif()
endforeach()
string(REPLACE "|" ";" OPENCL_INCLUDE_DIRS "${OPENCL_INCLUDE_DIRS}")
set(flags -I${INCLUDE_DIR})
foreach(dir IN LISTS OPENCL_INCLUDE_DIRS)
  list(APPEND flags -I${dir})
endforeach()
# -fsyntax-only: parse and check, write nothing (GCC and Clang).
list(APPEND flags -fsyntax-only -Wall -Wextra -pedantic -Werror)

file(GLOB headers RELATIVE ${INCLUDE_DIR}/memwrap ${INCLUDE_DIR}/memwrap/*.h)
list(SORT headers)
if(NOT headers)
  message(FATAL_ERROR "no headers in ${INCLUDE_DIR}/memwrap")
endif()
file(READ ${INCLUDE_DIR}/memwrap/memwrap.h umbrella)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

set(problems "")
set(checked 0)
# compile(<label> <language flag list> <source text>): appends to `problems` on failure.
function(compile label lang_flags source)
  string(MAKE_C_IDENTIFIER "${label}" stem)
  if(lang_flags MATCHES "c\\+\\+")
    set(file ${WORK_DIR}/${stem}.cpp)
    set(compiler ${CXX_COMPILER})
  else()
    set(file ${WORK_DIR}/${stem}.c)
    set(compiler ${C_COMPILER})
  endif()
  file(WRITE ${file} "${source}")
  execute_process(COMMAND ${compiler} ${lang_flags} ${flags} ${file}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    set(problems "${problems}\n- ${label} does not compile:\n${out}" PARENT_SCOPE)
  endif()
endfunction()

foreach(h IN LISTS headers)
  file(READ ${INCLUDE_DIR}/memwrap/${h} text)
  string(REGEX MATCH "#ifndef ([A-Z0-9_]+)[ \t]*\n#define ([A-Z0-9_]+)" guard "${text}")
  if(NOT guard OR NOT CMAKE_MATCH_1 STREQUAL CMAKE_MATCH_2)
    string(APPEND problems "\n- memwrap/${h} has no include guard (#ifndef X / #define X)")
  endif()
  # A quoted include could reach engine/ through a relative path ("../../engine/x.h") even
  # with only include/ on the path: public headers quote other public headers only.
  string(REGEX MATCHALL "#[ \t]*include[ \t]*\"[^\"]*\"" quoted "${text}")
  foreach(inc IN LISTS quoted)
    if(NOT inc MATCHES "\"memwrap/[a-z0-9_]+\\.h\"$")
      string(APPEND problems "\n- memwrap/${h}: ${inc} is not a public header")
    endif()
  endforeach()
  if(NOT h STREQUAL "memwrap.h")
    if(NOT text MATCHES "#ifdef __cplusplus[ \t]*\nextern \"C\" {")
      string(APPEND problems "\n- memwrap/${h} has no extern \"C\" block for C++ users")
    endif()
    if(NOT umbrella MATCHES "#include [\"<]memwrap/${h}[\">]")
      string(APPEND problems "\n- memwrap/memwrap.h does not include memwrap/${h}")
    endif()
  endif()
  compile("memwrap/${h} alone in C11" "-x;c;-std=c11" "#include <memwrap/${h}>\n")
  math(EXPR checked "${checked} + 1")
  if(CXX_COMPILER)
    compile("memwrap/${h} alone in C++" "-x;c++;-std=c++11" "#include <memwrap/${h}>\n")
  endif()
endforeach()
# A compiled use of the umbrella, so an empty or guarded-out header would show: the version
# string and one type from each end of the stack.
set(use "#include <memwrap/memwrap.h>\nconst char *(*version)(void) = mw_version;\n")
string(APPEND use "mw_graph *(*create)(void) = mw_graph_create;\n")
compile("memwrap/memwrap.h used in C11" "-x;c;-std=c11" "${use}")
if(CXX_COMPILER)
  compile("memwrap/memwrap.h used in C++" "-x;c++;-std=c++11" "${use}")
  set(languages "C11 and C++")
else()
  set(languages "C11 only: no C++ compiler found")
endif()

if(problems)
  message(FATAL_ERROR "public header problems:${problems}")
endif()
message(STATUS "${checked} public headers checked (${languages})")
