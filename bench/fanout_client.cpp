// fanout_client: the load tool of `bench/run.sh chat` and `bench/run.sh chatfleet`: chat
// fan-out against microserver's chat service (one instance, or several sharing a room
// through Redis) or Redis pub/sub, measured the same way for all. One thread, epoll, no
// dependencies (python would be the bottleneck long before either server).
//
//   fanout_client --mode chat|redis --port P [--host 127.0.0.1] --members N [--senders S]
//                 [--duration SEC] [--rate DELIVERIES_PER_SEC] [--server-pid PID]
//                 [--phases throughput,paced] [--channel NAME]
//   fanout_client --ports P1,P2... --members N ...      (chat mode: several instances)
//   --port and --ports add to one list of ports, --server-pid and --server-pids to one list
//   of server processes whose CPU is summed (e.g. the instances and redis-server).
//
// Every message carries a token `@<sender>:<seq>:<monotonic ns>` in its text; a receiver
// scans its byte stream for tokens, whatever the protocol around them (chat lines
// `<timestamp> <ip>:<port> @1:2:3\n`, `<timestamp> <ip>:<port>@node-a @1:2:3\n` across
// instances, or Redis `*3 $7 message $5 bench $N @1:2:3`), so one parser measures all.
// Per delivery: latency = now - the embedded send time (both ends on this machine's
// CLOCK_MONOTONIC), a count per receiver (loss) and the last seq per (receiver, sender)
// (order).
//
// Fan-out N means every message reaches N receivers in both modes:
//   chat:  N members join the room, dealt round-robin over the ports (member i on port
//          i mod P); the first S of them also send, so the senders are dealt over the
//          ports too (the room delivers every line to every member, the sender included:
//          its own copy is its ack).
//   redis: N connections SUBSCRIBE the channel; S more connections PUBLISH (the
//          `:<receivers>` reply is the ack). One port only.
//
// Setup: before the phases every receiver must have seen a sync token `@0:<epoch>:<origin>`
// from every origin, sent every 50 ms until then (at most 60 s). The origins are the
// first member on each port (chat) or the first publisher (redis); with one port the
// token is `@0:<epoch>:0`. So every receiver is in the room / subscribed and, across
// instances, every instance's lines reach every instance's members (all linked through
// Redis: an instance not linked yet delivers its lines to its own members only).
//
// Phases, each on the same connections, each its own figures:
//   throughput  every sender keeps one message in flight (next one on the ack) for
//               --duration seconds: the most the server(s) can deliver.
//   paced       open loop: messages are sent on a fixed schedule, --rate / N messages a
//               second spread over the senders, for --duration seconds: latency at a
//               given load, without coordinated omission.
// After each phase the tool waits (at most 5 s) until every receiver has every message,
// then prints `<phase>.<key> <value>` lines: messages, deliveries, expected, lost,
// out_of_order, seconds, deliveries_per_s, p50_us, p99_us, p999_us, max_us,
// server_cpu_us (from /proc/<pid>/stat over the phase, summed over the server pids),
// server_cpu_us_per_delivery, client_cpu_us. Exit status 0, or 1 with a message when
// setup fails or time runs out.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fanout_client: %s\n", what.c_str());
  std::exit(1);
}

// Appends the numbers of "1,2,3" (or "1") to out.
void appendInts(std::vector<int>& out, const std::string& text) {
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(std::atoi(item.c_str()));
}

std::int64_t nowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// utime + stime of a process (all its threads), in microseconds.
std::int64_t processCpuUs(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) die("cannot read /proc/" + std::to_string(pid) + "/stat");
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {  // fields 3.. after "pid (comm)"
    rest >> field;
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return (utime + stime) * 1'000'000 / sysconf(_SC_CLK_TCK);
}

std::int64_t selfCpuUs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1'000'000LL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

// Latency histogram: 1 µs buckets up to 1 s, beyond that the overflow bucket (and max).
struct Histogram {
  static constexpr std::size_t kBuckets = 1'000'000;
  std::vector<std::uint32_t> buckets = std::vector<std::uint32_t>(kBuckets + 1);
  std::uint64_t count = 0;
  std::int64_t maxUs = 0;
  void add(std::int64_t us) {
    if (us < 0) us = 0;
    maxUs = std::max(maxUs, us);
    ++buckets[std::min<std::size_t>(static_cast<std::size_t>(us), kBuckets)];
    ++count;
  }
  std::int64_t quantile(double q) const {
    if (count == 0) return 0;
    std::uint64_t want = static_cast<std::uint64_t>(q * static_cast<double>(count) + 0.999999);
    if (want == 0) want = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i <= kBuckets; ++i) {
      seen += buckets[i];
      if (seen >= want) return i == kBuckets ? maxUs : static_cast<std::int64_t>(i);
    }
    return maxUs;
  }
  void clear() {
    std::fill(buckets.begin(), buckets.end(), 0);
    count = 0;
    maxUs = 0;
  }
};

enum class Mode { Chat, Redis };

struct Conn {
  int fd = -1;
  bool receiver = false;  // counts deliveries (a chat member, a Redis subscriber)
  int senderId = 0;       // 1..S when this connection sends, else 0
  // token scanner state: 0 = looking for '@', 1 = sender, 2 = seq, 3 = time
  int state = 0;
  std::uint64_t tokSender = 0, tokSeq = 0, tokTime = 0;
  std::uint64_t deliveries = 0;  // this phase
  std::uint64_t syncedFrom = 0;  // bit k: has seen a sync token from origin k
  std::vector<std::uint64_t> lastSeq;  // per sender, this phase
  std::string out;                     // bytes not written yet
  bool wantWrite = false;
  // sender side
  std::uint64_t sent = 0;      // messages this phase
  std::uint64_t acked = 0;     // acks this phase (Redis replies / own copies)
  bool inFlight = false;
};

struct Options {
  Mode mode = Mode::Chat;
  std::string host = "127.0.0.1";
  std::vector<int> ports;  // chat members are dealt round-robin over these
  int members = 10;
  int senders = 10;
  double duration = 2.0;
  double rate = 100'000;  // deliveries per second in the paced phase
  std::vector<int> serverPids;  // their CPU is summed
  std::string phases = "throughput,paced";
  std::string channel = "bench";
};

class Client {
 public:
  explicit Client(Options o) : opt_(std::move(o)) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die("epoll_create1 failed");
  }

  void setup() {
    connectAll();
    waitUntilSynced(nowNs() + 60'000'000'000LL);
    // Let the join notices and stray syncs drain, so that no phase measures them.
    std::int64_t quietUntil = nowNs() + 500'000'000;
    while (nowNs() < quietUntil) poll(10);
  }

  void runPhase(const std::string& name) {
    const bool paced = name == "paced";
    if (!paced && name != "throughput") die("unknown phase " + name);
    for (Conn& c : conns_) {
      c.deliveries = 0;
      std::fill(c.lastSeq.begin(), c.lastSeq.end(), 0);
      c.sent = c.acked = 0;
      c.inFlight = false;
    }
    hist_.clear();
    outOfOrder_ = 0;
    std::int64_t cpu0 = serverCpuUs();
    std::int64_t self0 = selfCpuUs();
    std::int64_t t0 = nowNs();
    std::int64_t end = t0 + static_cast<std::int64_t>(opt_.duration * 1e9);
    std::uint64_t totalSent = 0;
    if (paced) {
      double messagesPerSecond = opt_.rate / opt_.members;
      double intervalNs = 1e9 / messagesPerSecond;
      std::uint64_t k = 0;
      while (true) {
        std::int64_t now = nowNs();
        if (now >= end) break;
        std::int64_t due = t0 + static_cast<std::int64_t>(static_cast<double>(k) * intervalNs);
        while (due <= now) {  // catch up: the schedule does not wait for anybody
          sendMessage(senderIdx_[k % senderIdx_.size()]);
          ++k;
          due = t0 + static_cast<std::int64_t>(static_cast<double>(k) * intervalNs);
        }
        std::int64_t waitMs = (due - nowNs()) / 1'000'000 - 1;
        poll(waitMs > 0 ? static_cast<int>(std::min<std::int64_t>(waitMs, 10)) : 0);
      }
    } else {
      closedLoop_ = true;
      for (std::size_t i : senderIdx_) sendMessage(i);
      while (nowNs() < end) poll(10);
      closedLoop_ = false;
    }
    for (std::size_t i : senderIdx_) totalSent += conns_[i].sent;
    // Drain: wait until each receiver has every message, at most 5 s.
    const std::uint64_t expectedEach = totalSent;
    std::int64_t drainEnd = nowNs() + 5'000'000'000LL;
    std::int64_t lastDelivery = nowNs();
    while (nowNs() < drainEnd) {
      std::uint64_t before = totalDeliveries();
      poll(5);
      if (totalDeliveries() != before) lastDelivery = nowNs();
      if (totalDeliveries() >= expectedEach * static_cast<std::uint64_t>(opt_.members) && acksDone()) break;
    }
    std::int64_t cpu1 = serverCpuUs();
    std::int64_t self1 = selfCpuUs();
    const std::uint64_t deliveries = totalDeliveries();
    const std::uint64_t expected = expectedEach * static_cast<std::uint64_t>(opt_.members);
    std::uint64_t lost = 0;
    for (const Conn& c : conns_)
      if (c.receiver && c.deliveries < expectedEach) lost += expectedEach - c.deliveries;
    double seconds = static_cast<double>(lastDelivery - t0) / 1e9;
    auto put = [&](const char* key, const std::string& value) {
      std::printf("%s.%s %s\n", name.c_str(), key, value.c_str());
    };
    auto fmt = [](double v) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.3f", v);
      return std::string(buf);
    };
    put("messages", std::to_string(totalSent));
    put("deliveries", std::to_string(deliveries));
    put("expected", std::to_string(expected));
    put("lost", std::to_string(lost));
    put("out_of_order", std::to_string(outOfOrder_));
    put("seconds", fmt(seconds));
    put("deliveries_per_s", fmt(static_cast<double>(deliveries) / seconds));
    put("p50_us", std::to_string(hist_.quantile(0.50)));
    put("p99_us", std::to_string(hist_.quantile(0.99)));
    put("p999_us", std::to_string(hist_.quantile(0.999)));
    put("max_us", std::to_string(hist_.maxUs));
    put("server_cpu_us", std::to_string(cpu1 - cpu0));
    put("server_cpu_us_per_delivery", fmt(deliveries ? static_cast<double>(cpu1 - cpu0) / static_cast<double>(deliveries) : 0));
    put("client_cpu_us", std::to_string(self1 - self0));
    std::fflush(stdout);
  }

 private:
  // Chat: N members, member i on port i mod P, the first S of them also senders. Redis: N
  // subscribers, then S publishers, all on the one port.
  // Each connection is read from as soon as it is made (every 64 connections the tool
  // reads what arrived): in chat every join is announced to everyone already there, and a
  // large room (10,000 members: ~50 million join lines) must not pile them up unread.
  void connectAll() {
    const std::size_t ports = opt_.ports.size();
    if (opt_.mode == Mode::Chat) opt_.senders = std::min(opt_.senders, opt_.members);
    const int publishers = opt_.mode == Mode::Redis ? opt_.senders : 0;
    conns_.reserve(static_cast<std::size_t>(opt_.members + publishers));
    for (int i = 0; i < opt_.members + publishers; ++i) {
      Conn c;
      if (i < opt_.members) {
        c.fd = connectTo(opt_.ports[static_cast<std::size_t>(i) % ports]);
        c.receiver = true;
        if (opt_.mode == Mode::Chat && i < opt_.senders) c.senderId = i + 1;
      } else {
        c.fd = connectTo(opt_.ports[0]);
        c.senderId = i - opt_.members + 1;
      }
      c.lastSeq.assign(static_cast<std::size_t>(opt_.senders) + 1, 0);
      const std::size_t index = conns_.size();
      if (c.senderId) senderIdx_.push_back(index);
      conns_.push_back(std::move(c));
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = index;
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, conns_[index].fd, &ev) != 0) die("epoll_ctl failed");
      if (opt_.mode == Mode::Redis && conns_[index].receiver) {
        std::string cmd = "*2\r\n$9\r\nSUBSCRIBE\r\n$" + std::to_string(opt_.channel.size()) + "\r\n" + opt_.channel + "\r\n";
        queue(index, cmd);
      }
      if (index % 64 == 63)
        for (int k = 0; k < 8; ++k) poll(0);
    }
    // One sync origin per port, so that every instance's lines are seen to reach every
    // member: members 0..P-1 (member p is on port p) in chat, the first publisher in redis.
    if (opt_.mode == Mode::Chat) {
      for (std::size_t p = 0; p < ports; ++p) syncOrigins_.push_back(p);
    } else {
      syncOrigins_.push_back(senderIdx_.at(0));
    }
  }

  // Every receiver is really in the room / subscribed, and every instance linked, once it
  // has seen a sync token (`@0:<epoch>:<origin>`) from every origin: each origin sends one
  // every 50 ms until then.
  void waitUntilSynced(std::int64_t deadline) {
    std::uint64_t epoch = 0;
    std::int64_t nextSync = 0;
    while (unsynced() != 0) {
      std::int64_t now = nowNs();
      if (now > deadline)
        die("setup timed out: " + std::to_string(unsynced()) + " receivers never saw a sync token from every " +
            (syncOrigins_.size() > 1 ? "port (instances not linked?)" : "origin (never joined?)"));
      if (now >= nextSync) {
        ++epoch;
        for (std::size_t k = 0; k < syncOrigins_.size(); ++k)
          sendText(syncOrigins_[k], "@0:" + std::to_string(epoch) + ":" + std::to_string(k));
        nextSync = now + 50'000'000;
      }
      poll(10);
    }
  }

  std::int64_t serverCpuUs() const {
    std::int64_t sum = 0;
    for (int pid : opt_.serverPids) sum += processCpuUs(pid);
    return sum;
  }

  int connectTo(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die(std::string("socket: ") + std::strerror(errno) + " (raise ulimit -n?)");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, opt_.host.c_str(), &addr.sin_addr) != 1) die("bad host " + opt_.host);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      die("connect to " + opt_.host + ":" + std::to_string(port) + ": " + std::strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
  }

  std::size_t unsynced() const {
    const std::size_t origins = syncOrigins_.size();  // at most 64 (checked in main)
    const std::uint64_t all = origins == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << origins) - 1;
    std::size_t n = 0;
    for (const Conn& c : conns_)
      if (c.receiver && c.syncedFrom != all) ++n;
    return n;
  }

  std::uint64_t totalDeliveries() const {
    std::uint64_t n = 0;
    for (const Conn& c : conns_) n += c.deliveries;
    return n;
  }

  bool acksDone() const {
    for (std::size_t i : senderIdx_)
      if (conns_[i].acked < conns_[i].sent) return false;
    return true;
  }

  void sendMessage(std::size_t i) {
    Conn& c = conns_[i];
    ++c.sent;
    c.inFlight = true;
    char token[96];
    std::snprintf(token, sizeof token, "@%d:%" PRIu64 ":%" PRId64, c.senderId, c.sent, nowNs());
    sendText(i, token);
  }

  void sendText(std::size_t i, const std::string& text) {
    if (opt_.mode == Mode::Chat) {
      queue(i, text + "\n");
    } else {
      queue(i, "*3\r\n$7\r\nPUBLISH\r\n$" + std::to_string(opt_.channel.size()) + "\r\n" + opt_.channel + "\r\n$" +
                   std::to_string(text.size()) + "\r\n" + text + "\r\n");
    }
  }

  void queue(std::size_t i, const std::string& bytes) {
    Conn& c = conns_[i];
    if (c.out.empty()) {
      ssize_t n = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) die(std::string("send: ") + std::strerror(errno));
      std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
      if (done == bytes.size()) return;
      c.out.assign(bytes, done, std::string::npos);
    } else {
      c.out += bytes;
    }
    if (!c.wantWrite) {
      c.wantWrite = true;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT;
      ev.data.u64 = i;
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    }
  }

  void flush(std::size_t i) {
    Conn& c = conns_[i];
    while (!c.out.empty()) {
      ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0) die(std::string("send: ") + std::strerror(errno));
      c.out.erase(0, static_cast<std::size_t>(n));
    }
    c.wantWrite = false;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void poll(int timeoutMs) {
    epoll_event events[512];
    int n = epoll_wait(ep_, events, 512, timeoutMs);
    if (n < 0 && errno != EINTR) die("epoll_wait failed");
    for (int e = 0; e < n; ++e) {
      std::size_t i = events[e].data.u64;
      if (events[e].events & EPOLLOUT) flush(i);
      if (events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) readFrom(i);
    }
  }

  void readFrom(std::size_t i) {
    Conn& c = conns_[i];
    ssize_t n = ::recv(c.fd, buf_, sizeof buf_, 0);
    if (n == 0) die("the server closed connection " + std::to_string(i) + " (cut off as too slow, or it stopped)");
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      die(std::string("recv: ") + std::strerror(errno));
    }
    if (opt_.mode == Mode::Redis && !c.receiver) {  // a publisher: each reply line is one ack
      for (ssize_t k = 0; k < n; ++k)
        if (buf_[k] == '\n') onAck(i);
      return;
    }
    const std::int64_t now = nowNs();
    for (ssize_t k = 0; k < n; ++k) {
      const char ch = buf_[k];
      if (c.state == 0) {
        if (ch == '@') {
          c.state = 1;
          c.tokSender = c.tokSeq = c.tokTime = 0;
        }
        continue;
      }
      const bool digit = ch >= '0' && ch <= '9';
      std::uint64_t& field = c.state == 1 ? c.tokSender : c.state == 2 ? c.tokSeq : c.tokTime;
      if (digit) {
        field = field * 10 + static_cast<std::uint64_t>(ch - '0');
      } else if (ch == ':' && c.state < 3) {
        ++c.state;
      } else {
        if (c.state == 3) onToken(i, now);
        c.state = ch == '@' ? 1 : 0;
        if (c.state == 1) c.tokSender = c.tokSeq = c.tokTime = 0;
      }
    }
  }

  void onToken(std::size_t i, std::int64_t now) {
    Conn& c = conns_[i];
    if (c.tokSender == 0) {  // sync: `@0:<epoch>:<origin>`
      if (c.tokTime < 64) c.syncedFrom |= std::uint64_t{1} << c.tokTime;
      return;
    }
    if (c.tokSender >= c.lastSeq.size()) return;
    std::uint64_t& last = c.lastSeq[c.tokSender];
    if (c.tokSeq <= last) {
      // A message from before this phase (seq restarts at 1 each phase) would look like
      // this too; only count real reordering within the phase.
      if (c.tokSeq != 0) ++outOfOrder_;
      return;
    }
    last = c.tokSeq;
    ++c.deliveries;
    hist_.add((now - static_cast<std::int64_t>(c.tokTime)) / 1000);
    if (opt_.mode == Mode::Chat && c.senderId != 0 && c.tokSender == static_cast<std::uint64_t>(c.senderId))
      onAck(i);
  }

  void onAck(std::size_t i) {
    Conn& c = conns_[i];
    if (c.acked < c.sent) ++c.acked;
    c.inFlight = c.acked < c.sent;
    if (closedLoop_ && !c.inFlight) sendMessage(i);
  }

  Options opt_;
  int ep_ = -1;
  std::vector<Conn> conns_;
  std::vector<std::size_t> senderIdx_;
  std::vector<std::size_t> syncOrigins_;  // the connections that send the sync tokens
  Histogram hist_;
  std::uint64_t outOfOrder_ = 0;
  bool closedLoop_ = false;  // the throughput phase's senders: the next message on each ack
  char buf_[65536];
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--mode") {
      std::string m = next();
      if (m == "chat") o.mode = Mode::Chat;
      else if (m == "redis") o.mode = Mode::Redis;
      else die("--mode is chat or redis");
    } else if (a == "--host") o.host = next();
    else if (a == "--port" || a == "--ports") appendInts(o.ports, next());
    else if (a == "--members") o.members = std::atoi(next().c_str());
    else if (a == "--senders") o.senders = std::atoi(next().c_str());
    else if (a == "--duration") o.duration = std::atof(next().c_str());
    else if (a == "--rate") o.rate = std::atof(next().c_str());
    else if (a == "--server-pid" || a == "--server-pids") appendInts(o.serverPids, next());
    else if (a == "--phases") o.phases = next();
    else if (a == "--channel") o.channel = next();
    else {
      std::fprintf(stderr, "usage: %s --mode chat|redis --port P | --ports P1,P2... --members N [--senders S] "
                           "[--duration SEC] [--rate DELIVERIES_PER_S] [--server-pid PID | --server-pids PID1,PID2...] "
                           "[--phases throughput,paced] [--channel NAME] [--host H]\n", argv[0]);
      return 2;
    }
  }
  if (o.ports.empty() || o.members <= 0 || o.senders <= 0 || o.duration <= 0 || o.rate <= 0) die("bad arguments");
  for (int p : o.ports)
    if (p <= 0 || p > 65535) die("bad port " + std::to_string(p));
  if (o.mode == Mode::Redis && o.ports.size() > 1) die("several ports are for --mode chat (instances sharing a room)");
  if (o.ports.size() > 64) die("at most 64 ports");
  if (static_cast<std::size_t>(o.members) < o.ports.size()) die("fewer members than ports");
  Client client(o);
  client.setup();
  std::stringstream phases(o.phases);
  std::string phase;
  while (std::getline(phases, phase, ',')) client.runPhase(phase);
  return 0;
}
