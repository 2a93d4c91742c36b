// The RpcClient's reading of transport failures (lib/rpc_client.h): the
// errno each of xmlrpc-c's and curl's messages stands for.
#include <cppunit/extensions/HelperMacros.h>

#include <cerrno>

#include "lib/rpc_client.h"

using namespace vastsky;

class RpcClientTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(RpcClientTest);
  CPPUNIT_TEST(TransportErrnoOfEachMessage);
  CPPUNIT_TEST_SUITE_END();

 public:
  // rpc_client.h: "transport failures as ECONNREFUSED, ETIMEDOUT, EACCES
  // (HTTP 401) or EIO"; a port such as 34017 is not a 401.
  void TransportErrnoOfEachMessage() {
    const std::string curl = "libcurl failed to execute the HTTP POST transaction, explaining:  ";
    CPPUNIT_ASSERT_EQUAL(EACCES, TransportErrno("HTTP response code is 401, not 200"));
    CPPUNIT_ASSERT_EQUAL(ECONNREFUSED, TransportErrno(curl + "Failed to connect to 127.0.0.1 port 34017 after 0 ms: "
                                                             "Couldn't connect to server"));
    CPPUNIT_ASSERT_EQUAL(ETIMEDOUT, TransportErrno(curl + "Operation timed out after 1401 milliseconds"));
    CPPUNIT_ASSERT_EQUAL(EIO, TransportErrno(curl + "Recv failure: Connection reset by peer"));
    CPPUNIT_ASSERT_EQUAL(EIO, TransportErrno("HTTP response code is 500, not 200"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RpcClientTest);
