// ChatStatus: see ChatStatus.h.
#include "ChatStatus.h"

#include <mutex>
#include <utility>

namespace chat {

namespace {

struct Enrolled {
  const void* owner;
  ChatStatus::Source source;
};

// The library's running services. Statics of libchat.so: the provider that reads them is
// the library's too, and is gone before the library is.
std::mutex& registryMutex() {
  static std::mutex mutex;
  return mutex;
}
std::vector<Enrolled>& enrolled() {
  static std::vector<Enrolled> list;
  return list;
}
std::weak_ptr<ChatStatus>& current() {
  static std::weak_ptr<ChatStatus> provider;
  return provider;
}

// A Prometheus label value: backslash, double quote and newline escaped.
void appendLabel(std::string& out, const std::string& value) {
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" ");
  out.append(type).append("\n");
}

// name{room="...",label="value"} n (no second label when `label` is null).
void sample(std::string& out, const char* name, const std::string& room, const char* label, const char* value,
            std::uint64_t n) {
  out.append(name).append("{room=\"");
  appendLabel(out, room);
  out.append("\"");
  if (label) out.append(",").append(label).append("=\"").append(value).append("\"");
  out.append("} ").append(std::to_string(n)).append("\n");
}

void sample(std::string& out, const char* name, const std::string& room, const char* transport, std::uint64_t n) {
  sample(out, name, room, transport ? "transport" : nullptr, transport, n);
}

std::string count(std::size_t n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); }

}  // namespace

std::shared_ptr<ChatStatus> ChatStatus::enroll(const void* owner, Source source,
                                               microserver::StatusRegistry& registry) {
  std::lock_guard<std::mutex> lock(registryMutex());
  std::shared_ptr<ChatStatus> provider = current().lock();
  if (!provider) {
    provider = std::make_shared<ChatStatus>();
    current() = provider;
    registry.add(provider);
  }
  enrolled().push_back({owner, std::move(source)});
  return provider;
}

void ChatStatus::withdraw(const void* owner) {
  std::lock_guard<std::mutex> lock(registryMutex());
  auto& list = enrolled();
  for (auto it = list.begin(); it != list.end();) it = it->owner == owner ? list.erase(it) : it + 1;
}

std::vector<ChatStatus::Row> ChatStatus::rows() {
  std::vector<Row> rows;
  std::lock_guard<std::mutex> lock(registryMutex());
  for (const Enrolled& e : enrolled()) {
    Row row;
    row.room = e.source.room->name();
    row.totals = e.source.room->totals();
    if (e.source.link) {
      row.redis = true;
      row.link = e.source.link->status();
      row.redisAddress = e.source.link->options().redis.display();
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

void ChatStatus::appendMetrics(std::string& out) const { appendMetrics(rows(), out); }
bool ChatStatus::ready(std::string& reason) const { return ready(rows(), reason); }
std::string ChatStatus::statusLine() const { return statusLine(rows()); }

void ChatStatus::appendMetrics(const std::vector<Row>& rows, std::string& out) {
  if (rows.empty()) return;
  header(out, "chat_members", "gauge", "Members of the chat room connected to this instance, by transport.");
  for (const Row& r : rows) {
    sample(out, "chat_members", r.room, "tcp", r.totals.tcp);
    sample(out, "chat_members", r.room, "websocket", r.totals.webSocket);
  }
  header(out, "chat_messages_in_total", "counter", "Lines the members on this instance sent into the room.");
  for (const Row& r : rows) sample(out, "chat_messages_in_total", r.room, nullptr, r.totals.messagesIn);
  header(out, "chat_messages_out_total", "counter",
         "Lines delivered to members on this instance (one per member and line).");
  for (const Row& r : rows) sample(out, "chat_messages_out_total", r.room, nullptr, r.totals.messagesOut);
  header(out, "chat_members_cut_total", "counter",
         "Members cut off as too slow, by reason: hard_limit (more than max_queue_bytes queued), soft_limit (more "
         "than soft_queue_bytes for soft_queue_time), room_budget (the room over room_queue_bytes: the furthest "
         "behind), send_timeout (nothing taken for server.limits.send_timeout).");
  for (const Row& r : rows)
    for (Room::Cut cut : {Room::Cut::HardLimit, Room::Cut::SoftLimit, Room::Cut::RoomBudget, Room::Cut::SendTimeout})
      sample(out, "chat_members_cut_total", r.room, "reason", Room::cutName(cut),
             r.totals.cutBy[static_cast<int>(cut)]);
  header(out, "chat_queued_bytes", "gauge",
         "Bytes queued for the members on this instance and not yet sent, summed over them (room_queue_bytes "
         "bounds it).");
  for (const Row& r : rows) sample(out, "chat_queued_bytes", r.room, nullptr, r.totals.queuedBytes);
  header(out, "chat_flood_dropped_total", "counter",
         "Lines dropped by flood control, by source: member (flood_members) or http (flood_http, POST "
         "/chat/messages).");
  for (const Row& r : rows) {
    sample(out, "chat_flood_dropped_total", r.room, "source", "member", r.totals.floodDroppedMember);
    sample(out, "chat_flood_dropped_total", r.room, "source", "http", r.totals.floodDroppedHttp);
  }
  bool anyRedis = false;
  for (const Row& r : rows) anyRedis = anyRedis || r.redis;
  if (!anyRedis) return;
  header(out, "chat_redis_connected", "gauge",
         "1 while the room is linked to the other instances through Redis, else 0.");
  for (const Row& r : rows)
    if (r.redis) sample(out, "chat_redis_connected", r.room, nullptr, r.link.linked ? 1 : 0);
}

bool ChatStatus::ready(const std::vector<Row>& rows, std::string& reason) {
  for (const Row& r : rows) {
    if (!r.redis || r.link.linked) continue;
    reason = "chat room " + r.room + " is not linked to the other instances: Redis at " + r.redisAddress +
             (r.link.lastError.empty() ? std::string(" not reached yet") : " unreachable (" + r.link.lastError + ")") +
             "; its members here chat locally only";
    return false;
  }
  return true;
}

std::string ChatStatus::statusLine(const std::vector<Row>& rows) {
  std::string line;
  for (const Row& r : rows) {
    if (!line.empty()) line.append("; ");
    line.append("chat " + r.room + ": " + count(r.totals.tcp + r.totals.webSocket, "member") + " (" +
                std::to_string(r.totals.tcp) + " tcp, " + std::to_string(r.totals.webSocket) + " websocket)");
    if (!r.redis) continue;
    if (r.link.linked) {
      line.append(", redis connected");
    } else {
      const auto secs = std::chrono::duration_cast<std::chrono::seconds>(r.link.inState).count();
      line.append(", redis unreachable for " + std::to_string(secs) + " s (chatting locally)");
    }
  }
  return line;
}

}  // namespace chat
