# The Debian package: `./microserver.sh package`, or `cpack` in any build folder.
#
# One package, microserver, holds the server, its plugins and site, the plugin SDK
# (headers and CMake package), and what a system installation adds: the configuration in
# /etc/microserver, the systemd units and the logrotate snippet. The SDK is a few headers
# (no library), and a plugin built with it loads only into a server whose ABI digest is
# the one in those headers: shipped together, they always match, which a separate -dev
# package would have to enforce with an exact version dependency.
#
# No maintainer scripts: the service runs as a dynamic user (DynamicUser=, no account to
# make) and systemd makes its log folder (LogsDirectory=); the administrator enables the
# service. So the package also installs as it is into another root (dpkg --root).

# Files only the package installs, at absolute places outside its prefix. They are left
# out of a plain `cmake --install` (EXCLUDE_FROM_ALL), which must never write to the /etc
# of the machine that installs into a private prefix; the package asks for them by name.
install(FILES dist/config/routes.yaml DESTINATION /etc/microserver COMPONENT system EXCLUDE_FROM_ALL)
install(FILES dist/logrotate/microserver DESTINATION /etc/logrotate.d COMPONENT system EXCLUDE_FROM_ALL)
# Debian 12 keeps the units of packages in /lib/systemd/system (/etc/systemd/system is
# the administrator's).
install(FILES dist/systemd/microserver.service dist/systemd/microserver.socket
        DESTINATION /lib/systemd/system COMPONENT system EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME microserver)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)  # the paths dist/config/routes.yaml and the unit name
# Everything the default install holds, then the system files.
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};${PROJECT_NAME};Unspecified;/"
                                 "${CMAKE_BINARY_DIR};${PROJECT_NAME};system;/")
set(CPACK_STRIP_FILES ON)
# cpack first builds the `preinstall` target, which would build everything (the tests and
# benchmarks too) in the build folder it packages; packaging takes what is built instead
# (`./microserver.sh package` builds first, and the package test packages the very build it
# belongs to without starting a second build in it). So `make install` does not build either.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(MICROSERVER_PACKAGE_MAINTAINER "microserver maintainers <maintainers@users.noreply.r-seed-7c2a8c1e.example>"
    CACHE STRING "The Maintainer field of the Debian package")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${MICROSERVER_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # microserver_<version>-<release>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION httpd)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
# The long description, in lines short enough for `apt show` (Debian's limit is 80).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "microserver serves a static site over HTTP/1.1 and HTTP/2, plain and HTTPS,
and routes requests by regular expression to handler plugins loaded from
shared libraries; plugins also run TCP services such as the included chat.
This package holds the server, the example plugins, the default site, a
systemd service and socket, a logrotate snippet, and the SDK to build
plugins (C and C++ headers, and the CMake package find_package(microserver)).")
# Depends: computed from the binary and the plugins by dpkg-shlibdeps (package dpkg-dev).
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_SOURCE_DIR}/cmake/PackageDepends.cmake)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "logrotate")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "cmake, g++")  # to build plugins with the SDK
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_SOURCE_DIR}/dist/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
