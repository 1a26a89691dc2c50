/* hello_c: the hello plugin written in C11 against the plugin ABI alone
 * (microserver/microserver.h): no C++, no SDK classes, just the server's table of
 * functions and a table of our own.
 *
 *   routes:
 *     - { path: '^/hello-c/(?P<name>[A-Za-z]+)$', methods: [GET], handler: hello_c, config: { greeting: Hello } }
 *
 *   curl -s http://127.0.0.1:8080/hello-c/Ada   ->  200 "Hello, Ada!\n"
 *
 * What each function does, and on which thread:
 *   microserver_plugin_v2  the one exported symbol: the server calls it once per loaded
 *                          copy of the library (main thread) with its function table,
 *                          which we keep in `host`, and gets our description back.
 *   hello_create           once per route naming hello_c, whenever routes.yaml is loaded
 *                          (start-up and every reload), on the main thread: checks the
 *                          route's `config:` and returns the handler, or refuses the
 *                          configuration with a message that starts with the place.
 *   hello_handle           per request, on a reactor thread, several at once: so it only
 *                          reads the handler, and it must not block.
 *   hello_destroy          when that configuration is retired, on any thread: frees it.
 *
 * Config: greeting (a non-empty string, default "Hello"); any other key is an error.
 */
#include <microserver/microserver.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The server's functions, set by the entry point before anything else is called. Each
 * loaded copy of the library has its own (plugins load with RTLD_LOCAL). */
static const ms_host_api* host;

/* One route's handler: the greeting, copied out of the config (which is valid during
 * hello_create only). Read-only once created, so any number of threads may use it. */
typedef struct hello {
  size_t greeting_size;
  char greeting[]; /* greeting_size bytes, not NUL-terminated */
} hello;

/* printf's "%.*s" wants an int (the server's strings are never NULL, empty or not). */
static int length(ms_str s) { return (int)s.size; }
static const char* chars(ms_str s) { return s.data; }

static int equals(ms_str s, const char* text) {
  size_t n = strlen(text);
  return s.size == n && memcmp(s.data, text, n) == 0;
}

/* Refuses the configuration with "FILE:LINE:COL: PATH: <what>", the place of `node`
 * (of its key when `at_key`: that is where a misspelt key is). The server shows the
 * message as it is; one longer than the buffer is cut short. */
__attribute__((format(printf, 4, 5))) static void refuse(ms_context* context, const ms_config* node, int at_key,
                                                         const char* format, ...) {
  ms_place p;
  host->config_place(node, &p);
  int at = at_key && p.key_line > 0;
  char message[1024];
  int n = snprintf(message, sizeof message, "%.*s:%d:%d: %.*s: ", length(p.file), chars(p.file),
                   at ? p.key_line : p.line, at ? p.key_column : p.column, length(p.path), chars(p.path));
  if (n < 0) { /* an output error: no place, then, but still the message */
    n = 0;
    message[0] = '\0';
  }
  if ((size_t)n < sizeof message) {
    va_list args;
    va_start(args, format);
    vsnprintf(message + n, sizeof message - (size_t)n, format, args);
    va_end(args);
  }
  host->context_fail(context, message, strlen(message));
}

/* Main thread. Returns the handler, or NULL after context_fail. */
static void* hello_create(ms_context* context) {
  const ms_config* config = host->context_config(context); /* never NULL; NULL kind when absent */
  ms_str greeting = {"Hello", 5};

  int kind = host->config_kind(config);
  if (kind == MS_CONFIG_MAP) {
    for (size_t i = 0, n = host->config_size(config); i < n; ++i) {
      ms_str key = host->config_key(config, i);
      if (equals(key, "greeting")) continue;
      refuse(context, host->config_item(config, i), 1, "unknown key '%.*s' (expected one of: greeting)", length(key),
             chars(key));
      return NULL;
    }
    const ms_config* node = host->config_find(config, "greeting", 8);
    if (node && host->config_kind(node) == MS_CONFIG_SCALAR) {
      greeting = host->config_scalar(node);
      if (greeting.size == 0) {
        refuse(context, node, 0, "the greeting must not be empty");
        return NULL;
      }
    } else if (node && host->config_kind(node) != MS_CONFIG_NULL) { /* `greeting:` alone keeps the default */
      refuse(context, node, 0, "expected a string");
      return NULL;
    }
  } else if (kind != MS_CONFIG_NULL) {
    refuse(context, config, 0, "expected a map");
    return NULL;
  }

  hello* h = malloc(sizeof *h + greeting.size);
  if (!h) {
    host->context_fail(context, "out of memory", 13);
    return NULL;
  }
  h->greeting_size = greeting.size;
  memcpy(h->greeting, greeting.data, greeting.size);
  return h;
}

/* Any thread, once no request uses the handler any more. */
static void hello_destroy(void* handler) { free(handler); }

/* A reactor thread, concurrently with other requests: reads `handler`, writes only the
 * exchange, and does not block. The status is 200 unless set. */
static void hello_handle(void* handler, ms_exchange* x) {
  const hello* h = handler;
  static const char type[] = "text/plain; charset=utf-8";
  ms_str name; /* the route's capture `name`, valid during this call */
  if (!host->request_capture(x, "name", 4, &name) || name.size == 0) name = (ms_str){"world", 5};

  host->response_set_content_type(x, type, sizeof type - 1);
  host->response_append(x, h->greeting, h->greeting_size);
  host->response_append(x, ", ", 2);
  host->response_append(x, name.data, name.size);
  host->response_append(x, "!\n", 2);
}

static const ms_plugin plugin = {
    .struct_size = sizeof(ms_plugin),
    .abi = MS_ABI_DIGEST,          /* the server refuses a plugin built against other declarations */
    .sdk_version = MS_SDK_VERSION, /* for its messages */
#ifdef __VERSION__
    .compiler = "C " __VERSION__,
#else
    .compiler = "C",
#endif
    .name = "hello_c",
    .version = "1.0.0",
    .description = "Greets by name, in C: GET /hello-c/Ada -> Hello, Ada!",
    .handler_create = hello_create,
    .handler_destroy = hello_destroy,
    .handler_handle = hello_handle,
    /* service_*: NULL, no TCP service. */
};

/* The entry point: the only symbol the library exports (microserver_add_plugin builds
 * with hidden visibility, hence MS_EXPORT). `library` names this loaded copy, for
 * host->log and host->timer_start; hello needs neither. */
MS_EXPORT const ms_plugin* MS_PLUGIN_ENTRY(const ms_host_api* api, ms_library* library) {
  (void)library;
  host = api;
  return &plugin;
}
