// microserver: the server binary. Everything lives in App (options, start-up, signals).
#include <iostream>  // POCO_SERVER_MAIN reports errors on std::cerr

#include "app/App.h"

POCO_SERVER_MAIN(microserver::core::App)
