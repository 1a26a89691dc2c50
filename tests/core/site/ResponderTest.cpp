// Responder: the state machine of an answer given later, without a reactor (a mailbox
// that reaches none): what the plugin's side may do when, what the session takes, flow
// control both ways, cancellation, abandonment, and that every callback runs once.
#include "site/Responder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace microserver::core {
namespace {

// Records the plugin's callbacks.
struct Heard {
  int writable = 0;
  std::vector<int> cancels;
  int released = 0;
  std::string body;
  std::vector<int> ends;
  int pauseAfter = -1;  // on_data says Pause from this piece on
  int pieces = 0;
};

const ms_responder_callbacks kCallbacks = {
    [](void* u) { ++static_cast<Heard*>(u)->writable; },
    [](void* u, int why) { static_cast<Heard*>(u)->cancels.push_back(why); },
    [](void* u) { ++static_cast<Heard*>(u)->released; },
};
const ms_body_callbacks kBody = {
    [](void* u, const char* data, std::size_t size) {
      auto* h = static_cast<Heard*>(u);
      h->body.append(data, size);
      ++h->pieces;
      return static_cast<int>(h->pauseAfter >= 0 && h->pieces > h->pauseAfter ? MS_BODY_PAUSE : MS_BODY_CONTINUE);
    },
    [](void* u, int how) { static_cast<Heard*>(u)->ends.push_back(how); },
};

class Session : public Responder::Sink {
 public:
  void onResponderReady(Responder&) override { ++ready; }
  int ready = 0;
};

// Every responder made here, with the plugin's reference that response_defer gives;
// references a test did not give back are given back when it ends (no leak).
std::vector<std::weak_ptr<Responder>> gMade;
std::shared_ptr<Responder> make(Response initial = Response()) {
  auto r = std::make_shared<Responder>(nullptr, std::make_shared<ReactorMailbox>(nullptr), std::move(initial));
  r->retainHandle();
  gMade.push_back(r);
  return r;
}
class ResponderTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& weak : gMade)
      if (auto r = weak.lock()) std::shared_ptr<Responder> last = r->releaseHandle();
    gMade.clear();
  }
};

TEST_F(ResponderTest, WhatWasSetBeforeDeferringCarriesOverAndFinishSendsItAll) {
  Response initial;
  initial.setStatus(201);
  initial.addHeader("X-A", "1");
  auto r = make(std::move(initial));
  EXPECT_EQ(r->append("hello "), MS_OK);
  EXPECT_EQ(r->append("world"), MS_OK);
  EXPECT_FALSE(r->take().head) << "nothing to send before finish()";
  EXPECT_EQ(r->finish(), MS_OK);
  Responder::Taken t = r->take();
  ASSERT_TRUE(t.head);
  EXPECT_TRUE(t.finished);
  EXPECT_EQ(t.response.status(), 201);
  EXPECT_EQ(t.response.header("X-A"), "1");
  EXPECT_EQ(t.response.body(), "hello world");
  EXPECT_FALSE(r->take().head) << "taken once";
  EXPECT_EQ(r->finish(), MS_ESTATE);
  EXPECT_EQ(r->append("more"), MS_ESTATE);
}

TEST_F(ResponderTest, TheFinalStatusIs200To599AndInterimOnesAre1xxBut101) {
  auto r = make();
  EXPECT_EQ(r->setStatus(103), MS_EINVAL);
  EXPECT_EQ(r->setStatus(199), MS_EINVAL);
  EXPECT_EQ(r->setStatus(600), MS_EINVAL);
  EXPECT_EQ(r->setStatus(599), MS_OK);
  ms_str name{"Link", 4}, value{"</a.css>; rel=preload", 21};
  EXPECT_EQ(r->sendInterim(101, &name, &value, 1), MS_EINVAL);
  EXPECT_EQ(r->sendInterim(200, &name, &value, 1), MS_EINVAL);
  EXPECT_EQ(r->sendInterim(103, &name, &value, 1), MS_OK);
  ms_str bad{"X\r\nY", 4};
  EXPECT_EQ(r->sendInterim(103, &name, &bad, 1), MS_EINVAL);
  EXPECT_EQ(r->addHeader("Content-Length", "3"), MS_EINVAL);
  EXPECT_EQ(r->addHeader("Transfer-Encoding", "chunked"), MS_EINVAL);
  Responder::Taken t = r->take();
  ASSERT_EQ(t.interims.size(), 1u);
  EXPECT_EQ(t.interims[0].status(), 103);
  EXPECT_EQ(t.interims[0].header("Link"), "</a.css>; rel=preload");
  EXPECT_FALSE(t.head);
}

TEST_F(ResponderTest, AStreamPausesBeyondTheHighWaterAndSaysWritableBelowTheLow) {
  auto r = make();
  Heard heard;
  ASSERT_EQ(r->setCallbacks(&kCallbacks, &heard), MS_OK);
  EXPECT_EQ(r->write("x"), MS_ESTATE) << "write() needs startStream()";
  ASSERT_EQ(r->append("first "), MS_OK);
  ASSERT_EQ(r->startStream(), MS_OK);
  EXPECT_EQ(r->addHeader("X-Late", "1"), MS_ESTATE);
  EXPECT_EQ(r->write("piece"), MS_WRITE_OK);
  Responder::Taken t = r->take();
  ASSERT_TRUE(t.head);
  EXPECT_TRUE(t.response.streamed());
  EXPECT_EQ(t.body, "first piece") << "what was appended before the stream is its first piece";
  std::string big(Responder::kHighWater + 1, 'b');
  EXPECT_EQ(r->write(big), MS_WRITE_PAUSE);
  EXPECT_EQ(r->write("still taken"), MS_WRITE_PAUSE);
  t = r->take();
  EXPECT_EQ(t.body.size(), big.size() + 11);
  r->setQueued(Responder::kLowWater + 1);
  EXPECT_EQ(heard.writable, 0) << "not below the low water yet";
  r->setQueued(Responder::kLowWater);
  EXPECT_EQ(heard.writable, 1);
  r->setQueued(0);
  EXPECT_EQ(heard.writable, 1) << "once per pause";
  EXPECT_EQ(r->end(), MS_OK);
  t = r->take();
  EXPECT_TRUE(t.ended);
  EXPECT_EQ(r->write("after"), MS_ESTATE);
  r->completed();
  EXPECT_TRUE(heard.cancels.empty()) << "a completed answer is not cancelled";
}

TEST_F(ResponderTest, GivenUpItTellsThePluginOnceAndRefusesQuietly) {
  auto r = make();
  Heard heard;
  r->setCallbacks(&kCallbacks, &heard);
  r->startStream();
  r->detach(MS_CANCEL_CLIENT_GONE);
  r->detach(MS_CANCEL_TIMEOUT);
  ASSERT_EQ(heard.cancels, std::vector<int>({MS_CANCEL_CLIENT_GONE}));
  EXPECT_TRUE(r->cancelled());
  EXPECT_EQ(r->write("x"), MS_WRITE_GONE);
  EXPECT_EQ(r->end(), MS_EGONE);
  EXPECT_EQ(r->finish(), MS_EGONE);
  // The plugin lets go: its user is released, exactly once.
  std::shared_ptr<Responder> last = r->releaseHandle();
  r.reset();
  EXPECT_EQ(heard.released, 0) << "the server's reference still holds it";
  last.reset();
  EXPECT_EQ(heard.released, 1);
}

TEST_F(ResponderTest, AnAnswerLetGoWithoutFinishingIsAbandoned) {
  auto r = make();
  Session session;
  r->attach(&session);
  std::shared_ptr<Responder> last = r->releaseHandle();
  ASSERT_TRUE(last) << "that was the plugin's only reference";
  last->pluginLetGo();
  EXPECT_TRUE(r->take().abandoned);
  // Finished, then let go: nothing is abandoned.
  auto f = make();
  f->finish();
  std::shared_ptr<Responder> gone = f->releaseHandle();
  gone->pluginLetGo();
  EXPECT_FALSE(f->take().abandoned);
}

TEST_F(ResponderTest, TheBodyIsReadOnlyWhileTheHandlerRunsAndEndsExactlyOnce) {
  auto r = make();
  Heard heard;
  EXPECT_EQ(r->readBody(&kBody, &heard), MS_ESTATE) << "after handle() returned";
  r->setHandlerRunning(true);
  ASSERT_EQ(r->readBody(&kBody, &heard), MS_OK);
  EXPECT_EQ(r->readBody(&kBody, &heard), MS_ESTATE) << "once";
  r->setHandlerRunning(false);
  EXPECT_TRUE(r->readsBody());
  heard.pauseAfter = 1;
  EXPECT_EQ(r->deliverBody("ab"), MS_BODY_CONTINUE);
  EXPECT_EQ(r->deliverBody("cd"), MS_BODY_PAUSE);
  r->resumeBody();
  EXPECT_TRUE(r->take().resumeBody);
  EXPECT_FALSE(r->take().resumeBody) << "taken once";
  r->endBody(MS_BODY_COMPLETE);
  r->endBody(MS_BODY_ABORTED);
  r->detach(MS_CANCEL_CLIENT_GONE);
  EXPECT_EQ(heard.body, "abcd");
  EXPECT_EQ(heard.ends, std::vector<int>({MS_BODY_COMPLETE}));
  EXPECT_FALSE(r->readsBody());
}

TEST_F(ResponderTest, ABodyStillBeingReadEndsAbortedWhenTheAnswerIsGivenUpOrDestroyed) {
  Heard heard;
  {
    auto r = make();
    r->setHandlerRunning(true);
    r->readBody(&kBody, &heard);
    r->detach(MS_CANCEL_CLIENT_GONE);
    EXPECT_EQ(heard.ends, std::vector<int>({MS_BODY_ABORTED}));
  }
  Heard second;
  {
    auto r = make();
    r->setHandlerRunning(true);
    r->readBody(&kBody, &second);
    std::shared_ptr<Responder> last = r->releaseHandle();
  }
  EXPECT_EQ(second.ends, std::vector<int>({MS_BODY_ABORTED})) << "destroyed: on_end still comes";
}

TEST_F(ResponderTest, ChangesMarkTheSessionReadyOnlyOnceAttached) {
  // With no reactor behind the mailbox a mark goes nowhere; what matters is that take()
  // then finds everything that accumulated.
  auto r = make();
  r->startStream();
  r->write("a");
  Session session;
  r->attach(&session);
  r->write("b");
  r->write("c");
  Responder::Taken t = r->take();
  EXPECT_TRUE(t.head);
  EXPECT_EQ(t.body, "abc");
}

}  // namespace
}  // namespace microserver::core
