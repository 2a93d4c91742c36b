// Command shapes that several object kinds share, so hsvr, ssvr and pdsk
// commands differ only in their tables: act on one object named by its id,
// or list all objects / those of one.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cli/command_line.h"

namespace vastsky {
namespace cli {

struct ObjectKind {
  const char* prefix;  // "ssvr", for ids
  const char* noun;    // "storage server", for messages
  const char* key;     // "ssvrid", the request member
  const char* arg;     // "SSVR", the argument's name in usage
};

extern const ObjectKind kHeadServer;
extern const ObjectKind kStorageServer;
extern const ObjectKind kDisk;

// "storage server ssvr-00000002", for messages.
std::string DescribeObject(const ObjectKind& kind, int id);

// `<verb> ID`: calls method with {kind.key: id}, which answers 0; a fault
// reads "cannot <verb> <object>: ...".
int RunOnObject(std::vector<std::string> args, const char* description, const ObjectKind& kind,
                const char* method, const char* verb);

// `list [ID]`: calls method with {filter.key: id} if an id was given. A
// fault reads "<what>: ..." or "<what_one> <object>: ...".
int RunList(std::vector<std::string> args, const char* description, const ObjectKind& filter,
            const char* method, const char* what, const char* what_one, const Printer& text);

// `<verb> ID VALUE`: like RunOnObject, but the command line also carries a
// VALUE; `add_value` checks it and adds it to the request (a usage error if
// it returns one).
int RunSetter(std::vector<std::string> args, const char* description, const ObjectKind& kind,
              const char* value_name, const char* value_help, const char* method, const char* verb,
              const std::function<Status(const std::string&, Members*)>& add_value);

}  // namespace cli
}  // namespace vastsky
