// The `scratchcv` command line: a registry of subcommands and a small argument parser.
//
// Each subcommand lives in its own tools/cmd_<name>.cpp and registers itself:
//   static scv::cli::Command reg("gray", "convert an image to grayscale", cmd_gray);
// The function gets argv *after* the subcommand name and returns the process exit code.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace scv::cli {

using CommandFn = std::function<int(const std::vector<std::string>& args)>;

struct Command {
  Command(const char* name, const char* summary, CommandFn fn);
};

struct CommandInfo {
  std::string summary;
  CommandFn fn;
};
std::map<std::string, CommandInfo>& registry();

// A declarative parser: declare options, then parse(). Supports --name VALUE, --name=VALUE,
// boolean flags, and positionals. `--help`/`-h` prints usage() and makes parse() return false
// with help_requested() true. Errors print one line to stderr ("scratchcv <cmd>: ...").
class ArgParser {
 public:
  ArgParser(std::string command, std::string summary, std::string positional_usage = "");
  ArgParser& flag(const std::string& name, bool* out, const std::string& help);
  ArgParser& option(const std::string& name, std::string* out, const std::string& meta,
                    const std::string& help);
  ArgParser& option(const std::string& name, int* out, const std::string& meta,
                    const std::string& help);
  ArgParser& option(const std::string& name, double* out, const std::string& meta,
                    const std::string& help);
  // Free text appended to --help (examples, notes).
  ArgParser& epilog(const std::string& text);

  // Returns false on --help (help_requested()) or on an error (already printed).
  bool parse(const std::vector<std::string>& args, std::vector<std::string>* positionals);
  bool help_requested() const { return help_; }
  // Exit code for a failed parse: 0 after --help, 2 after a usage error.
  int exit_code() const { return help_ ? 0 : 2; }
  std::string usage() const;
  // Prints "scratchcv <cmd>: <message>" to stderr and returns 1 (for `return fail(...)`).
  int fail(const std::string& message) const;

 private:
  struct Opt {
    std::string name, meta, help;
    bool* b = nullptr;
    std::string* s = nullptr;
    int* i = nullptr;
    double* d = nullptr;
  };
  std::string command_, summary_, positional_usage_, epilog_;
  std::vector<Opt> opts_;
  bool help_ = false;
};

}  // namespace scv::cli
