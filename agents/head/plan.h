// A dependency graph of steps, each with an action and its undo: how the
// head agent builds (and tears down) a volume so that a failure at any step
// leaves nothing half-done.
//
// Run() starts every step whose dependencies are done, up to `parallel` at
// once. At the first failure it starts nothing new, lets the running steps
// finish, then undoes every finished step in reverse order of completion
// (a step always completes after what it depends on, so undo never pulls a
// device out from under another) and returns the first failure. Undo
// failures are logged; they cannot be reported better than the failure
// that caused them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lib/status.h"

namespace vastsky {

class Plan {
 public:
  using Fn = std::function<Status()>;

  // deps: ids returned by earlier Add() calls. undo may be empty.
  int Add(std::string name, std::vector<int> deps, Fn run, Fn undo = nullptr);
  Status Run(int parallel = 4);
  size_t size() const { return steps_.size(); }

 private:
  struct Step {
    std::string name;
    std::vector<int> deps;
    Fn run, undo;
  };
  std::vector<Step> steps_;
};

}  // namespace vastsky
