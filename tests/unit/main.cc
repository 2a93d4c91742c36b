// Runs every registered cppunit suite; prints the failures, then one
// "N passed, N failed" line that CI reads. Exit status 1 if any failed.
// An argument runs only the test whose name contains it; "scale" runs the
// suites registered under that name instead (long, for `make bench`).
#include <cppunit/BriefTestProgressListener.h>
#include <cppunit/CompilerOutputter.h>
#include <cppunit/TestResult.h>
#include <cppunit/TestResultCollector.h>
#include <cppunit/TestRunner.h>
#include <cppunit/extensions/TestFactoryRegistry.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "lib/log.h"

int main(int argc, char** argv) {
  vastsky::LogInit("tests", vastsky::LogLevel::kError, false);
  CppUnit::TestResult controller;
  CppUnit::TestResultCollector result;
  controller.addListener(&result);
  CppUnit::BriefTestProgressListener progress;
  controller.addListener(&progress);
  CppUnit::TestRunner runner;
  CppUnit::Test* all = CppUnit::TestFactoryRegistry::getRegistry().makeTest();
  if (argc > 1 && std::string(argv[1]) == "scale") {
    runner.addTest(CppUnit::TestFactoryRegistry::getRegistry("scale").makeTest());
  } else if (argc > 1) {
    try {
      runner.addTest(all->findTest(argv[1]));
    } catch (const std::exception&) {
      fprintf(stderr, "no test named %s\n", argv[1]);
      return 2;
    }
  } else {
    runner.addTest(all);
  }
  runner.run(controller);
  CppUnit::CompilerOutputter(&result, std::cerr).write();
  const int failed = result.testFailuresTotal();
  const int passed = result.runTests() - failed;
  std::string name = argv[0];
  name = name.substr(name.rfind('/') + 1);
  printf("%s: %d passed, %d failed\n", name.c_str(), passed, failed);
  return failed == 0 ? 0 : 1;
}
