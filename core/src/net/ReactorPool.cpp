// ReactorPool: see ReactorPool.h.
#include "net/ReactorPool.h"

namespace microserver::core {

ReactorPool::ReactorPool(Poco::Net::ServerSocket& httpSocket, unsigned threads, ServerContext& context)
    : ParallelSocketAcceptor(httpSocket, threads) {
  for (auto& r : reactors()) static_cast<Reactor&>(*r).setContext(&context);
}

std::vector<Reactor*> ReactorPool::all() {
  std::vector<Reactor*> out;
  for (std::size_t i = 0; i < size(); ++i) out.push_back(&at(i));
  return out;
}

}  // namespace microserver::core
