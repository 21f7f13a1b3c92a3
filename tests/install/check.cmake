# The install tests of tests/CMakeLists.txt, run with cmake -P -DMODE=<mode> ...:
#   install          cmake --install BUILD_DIR --prefix PREFIX (emptied first), then check the
#                    layout against the source tree and run the installed CLI
#   find_package     configure and build tests/install (find_package(memwrap) in PREFIX) and
#                    run the example it builds
#   pkg_config       build the example with `cc EXAMPLE $(pkg-config --cflags --libs memwrap)`
#                    and with `--static`, and run both
#   add_subdirectory configure and build tests/install with memwrap's source tree as a
#                    subdirectory, and run the example
# Common variables: WORK_DIR (scratch, emptied first), EXAMPLE, RUN_ARGS (|-separated
# arguments of the example run), C_COMPILER, GENERATOR, VERSION.
cmake_minimum_required(VERSION 3.16)

string(REPLACE "|" ";" RUN_ARGS "${RUN_ARGS}")
cmake_host_system_information(RESULT jobs QUERY NUMBER_OF_LOGICAL_CORES)

function(require)
  foreach(var IN LISTS ARGN)
    if("${${var}}" STREQUAL "")
      message(FATAL_ERROR "check.cmake MODE=${MODE}: -D${var}=... is required")
    endif()
  endforeach()
endfunction()

# run(<what> COMMAND...): runs a command, echoing it; fails the test with its output.
function(run what)
  string(REPLACE ";" " " line "${ARGN}")
  message(STATUS "${what}: ${line}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (exit ${rc}):\n${line}\n${out}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

# The example, run as CI runs it: it must reach the accuracy RUN_ARGS asks for. A shared
# libmemwrap is found through the build tree's RPATH (CMake) or LD_LIBRARY_PATH (cc).
function(run_example what exe)
  run("${what}" ${exe} ${RUN_ARGS})
  string(REGEX MATCH "test accuracy: [0-9.]+%" accuracy "${run_output}")
  message(STATUS "${what}: ${accuracy}")
endfunction()

function(configure_and_build what source build)
  run("${what}: configure" ${CMAKE_COMMAND} -S ${source} -B ${build} -G ${GENERATOR}
      -DCMAKE_C_COMPILER=${C_COMPILER} -DMEMWRAP_EXAMPLE=${EXAMPLE} ${ARGN})
  run("${what}: build" ${CMAKE_COMMAND} --build ${build} --parallel ${jobs})
endfunction()

if(MODE STREQUAL "install")
  require(BUILD_DIR PREFIX SOURCE_DIR LIBDIR VERSION SOVERSION LIBRARY_KIND)
  file(REMOVE_RECURSE ${PREFIX})
  run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX})
  set(missing "")
  # Every public header, and nothing else under include/.
  file(GLOB public RELATIVE ${SOURCE_DIR}/include ${SOURCE_DIR}/include/memwrap/*.h)
  file(GLOB_RECURSE installed RELATIVE ${PREFIX}/include ${PREFIX}/include/*)
  list(SORT public)
  list(SORT installed)
  if(NOT public STREQUAL installed)
    message(FATAL_ERROR "installed headers differ from include/memwrap/*.h:\n"
                        "  source:    ${public}\n  installed: ${installed}")
  endif()
  set(expected ${LIBDIR}/cmake/memwrap/memwrapConfig.cmake
               ${LIBDIR}/cmake/memwrap/memwrapConfigVersion.cmake
               ${LIBDIR}/cmake/memwrap/memwrapTargets.cmake
               ${LIBDIR}/pkgconfig/memwrap.pc bin/memwrap)
  if(LIBRARY_KIND STREQUAL "static")
    list(APPEND expected ${LIBDIR}/libmemwrap.a)
  else()
    # libmemwrap.so -> libmemwrap.so.<SOVERSION> -> libmemwrap.so.<VERSION>
    list(APPEND expected ${LIBDIR}/libmemwrap.so ${LIBDIR}/libmemwrap.so.${SOVERSION}
                         ${LIBDIR}/libmemwrap.so.${VERSION})
  endif()
  foreach(f IN LISTS expected)
    if(NOT EXISTS ${PREFIX}/${f})
      list(APPEND missing ${f})
    endif()
  endforeach()
  if(missing)
    file(GLOB_RECURSE all RELATIVE ${PREFIX} ${PREFIX}/*)
    message(FATAL_ERROR "missing from the install: ${missing}\ninstalled: ${all}")
  endif()
  # The CLI runs from the prefix as installed (a shared build through its RPATH).
  run("installed CLI" ${PREFIX}/bin/memwrap --version)
  if(NOT run_output MATCHES "memwrap ${VERSION}")
    message(FATAL_ERROR "${PREFIX}/bin/memwrap --version printed '${run_output}', "
                        "expected 'memwrap ${VERSION}'")
  endif()
  message(STATUS "installed into ${PREFIX}: headers, ${LIBRARY_KIND} library, CMake package, "
                 "memwrap.pc, bin/memwrap")

elseif(MODE STREQUAL "find_package")
  require(PREFIX CONSUMER_DIR WORK_DIR EXAMPLE C_COMPILER GENERATOR VERSION)
  file(REMOVE_RECURSE ${WORK_DIR})
  configure_and_build("find_package consumer" ${CONSUMER_DIR} ${WORK_DIR}
                      -DCMAKE_PREFIX_PATH=${PREFIX} -DMEMWRAP_EXPECTED_VERSION=${VERSION})
  run_example("example built with find_package" ${WORK_DIR}/memory_wrap_head)

elseif(MODE STREQUAL "pkg_config")
  require(PREFIX LIBDIR WORK_DIR EXAMPLE C_COMPILER PKG_CONFIG VERSION)
  file(REMOVE_RECURSE ${WORK_DIR})
  file(MAKE_DIRECTORY ${WORK_DIR})
  # The installed memwrap.pc first; the dependencies' own .pc files from the system path.
  set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${LIBDIR}/pkgconfig")
  set(ENV{LD_LIBRARY_PATH} "${PREFIX}/${LIBDIR}:$ENV{LD_LIBRARY_PATH}")
  run("pkg-config version" ${PKG_CONFIG} --modversion memwrap)
  string(STRIP "${run_output}" got)
  if(NOT got STREQUAL VERSION)
    message(FATAL_ERROR "pkg-config --modversion memwrap gave '${got}', expected '${VERSION}'")
  endif()
  foreach(variant plain static)
    set(query --cflags --libs memwrap)
    if(variant STREQUAL "static")
      list(APPEND query --static)
    endif()
    run("pkg-config (${variant})" ${PKG_CONFIG} ${query})
    string(STRIP "${run_output}" flags)
    separate_arguments(flags UNIX_COMMAND "${flags}")
    # As a user would type it: cc FILE $(pkg-config ...) -lm (-lm for the example's own math).
    run("cc with pkg-config (${variant})" ${C_COMPILER} -Wall -Wextra -Werror ${EXAMPLE}
        -o ${WORK_DIR}/memory_wrap_head_${variant} ${flags} -lm)
    run_example("example built with pkg-config (${variant})"
                ${WORK_DIR}/memory_wrap_head_${variant})
  endforeach()

elseif(MODE STREQUAL "add_subdirectory")
  require(MEMWRAP_SOURCE_DIR CONSUMER_DIR WORK_DIR EXAMPLE C_COMPILER GENERATOR)
  file(REMOVE_RECURSE ${WORK_DIR})
  string(TIMESTAMP start "%s")
  configure_and_build("add_subdirectory consumer" ${CONSUMER_DIR} ${WORK_DIR}
                      -DMEMWRAP_SOURCE_DIR=${MEMWRAP_SOURCE_DIR})
  string(TIMESTAMP end "%s")
  math(EXPR seconds "${end} - ${start}")
  message(STATUS "configured and built memwrap as a subproject in ${seconds} s")
  run_example("example built through add_subdirectory" ${WORK_DIR}/memory_wrap_head)

else()
  message(FATAL_ERROR "check.cmake: unknown MODE '${MODE}' "
                      "(install, find_package, pkg_config, add_subdirectory)")
endif()
