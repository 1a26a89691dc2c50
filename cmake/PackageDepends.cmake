# Run by cpack once the package's files are staged (CPACK_PRE_BUILD_SCRIPTS): the Depends of
# the .deb, computed by dpkg-shlibdeps (package dpkg-dev) from the ELF files it ships, the
# binary and the plugins, as dh_shlibdeps would.
#
# CPack's own CPACK_DEBIAN_PACKAGE_SHLIBDEPS does the same, but first runs file(1) once
# per packaged file, headers and pages too, to find the ELF ones: that doubled the time
# cpack takes (and the package test with it), for files whose places we know.
set(staged "${CPACK_TEMPORARY_DIRECTORY}")
file(GLOB elf_files RELATIVE "${staged}" "${staged}/usr/bin/microserver" "${staged}/usr/lib/microserver/plugins/*.so")
if(NOT elf_files)
  message(FATAL_ERROR "PackageDepends.cmake: no binary or plugin staged in ${staged}")
endif()
find_program(SHLIBDEPS dpkg-shlibdeps)
if(NOT SHLIBDEPS)
  message(FATAL_ERROR "dpkg-shlibdeps is missing, the package's Depends need it: apt-get install dpkg-dev")
endif()
# dpkg-shlibdeps reads debian/control (an empty one will do) from its working folder.
set(work "${CPACK_TOPLEVEL_DIRECTORY}/shlibdeps")
file(REMOVE_RECURSE "${work}")
file(WRITE "${work}/debian/control" "")
list(TRANSFORM elf_files PREPEND "${staged}/")
execute_process(COMMAND "${SHLIBDEPS}" -O ${elf_files}
  WORKING_DIRECTORY "${work}"
  OUTPUT_VARIABLE substvars
  ERROR_VARIABLE errors
  RESULT_VARIABLE result)
file(REMOVE_RECURSE "${work}")
if(NOT result EQUAL 0 OR NOT substvars MATCHES "shlibs:Depends=([^\n]+)")
  message(FATAL_ERROR "dpkg-shlibdeps could not compute the package's Depends (exit ${result}):\n${errors}${substvars}")
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${CMAKE_MATCH_1}")
