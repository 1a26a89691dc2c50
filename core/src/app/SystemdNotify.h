// SystemdNotify: tells the service manager how the server is doing (sd_notify(3)'s
// datagram protocol, written here rather than linking libsystemd: one sendmsg to the
// AF_UNIX socket named by $NOTIFY_SOCKET, a path or "@abstract").
//
//   READY=1              once every listener accepts (Type=notify units start here)
//   RELOADING=1          a reload begins (with MONOTONIC_USEC, as Type=notify-reload wants)
//   STOPPING=1           a graceful stop begins
//   STATUS=...           a line `systemctl status` shows
//
// Without $NOTIFY_SOCKET (not run by systemd) every call does nothing.
#pragma once

#include <string>
#include <string_view>

namespace microserver::core::systemd {

// Sends `state` (lines "KEY=value\n"); false if there is no socket or the send failed
// (never fatal: the server runs the same without a manager listening).
bool notify(std::string_view state);

// Convenience forms of the messages above.
void notifyReady(std::string_view status);
void notifyReloading();
void notifyStopping();
void notifyStatus(std::string_view status);

}  // namespace microserver::core::systemd
