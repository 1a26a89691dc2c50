// hello: the smallest useful plugin, and the README's worked example.
//
//   routes:
//     - { path: '^/hello/(?P<name>[A-Za-z]+)$', methods: [GET], handler: hello, config: { greeting: Hello } }
//
//   GET /hello/Ada  ->  200 "Hello, Ada!\n"
//
// The handler reads its `config:` once, when the route is loaded (a typo in a key is an
// error with its line and column), and answers each request without allocating beyond
// the response body.
#include <microserver/Plugin.h>

#include <string>

namespace {

class HelloHandler : public microserver::Handler {
 public:
  explicit HelloHandler(const microserver::PluginContext& context) {
    context.config.allowKeys({"greeting"});
    greeting_ = context.config.getString("greeting", "Hello");
    if (greeting_.empty()) context.config.find("greeting")->fail("the greeting must not be empty");
  }

  void handle(const microserver::Request& request, microserver::Response& response) override {
    std::string_view name = request.capture("name");
    if (name.empty()) name = "world";
    response.setContentType("text/plain; charset=utf-8");
    response.append(greeting_);
    response.append(", ");
    response.append(name);
    response.append("!\n");
  }

 private:
  std::string greeting_;
};

}  // namespace

MICROSERVER_PLUGIN("hello", "1.0.0", "Greets by name: GET /hello/Ada -> Hello, Ada!", HelloHandler)
