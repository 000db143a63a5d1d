// The `scratchcv` command line: a registry of subcommands and one argument convention.
//
// Each subcommand lives in its own tools/cmd_<name>.cpp and registers itself:
//   static scv::cli::Command reg("gray", "convert an image to grayscale", cmd_gray);
// The function gets argv *after* the subcommand name and returns the process exit code.
//
// The convention every command follows (the parser enforces it, on CLI11):
//   --name VALUE, --name=VALUE, and a short form (-k 3, -k3) for the common options
//     (model -m, threads -t, topk/ksize -k, output/out -o, quiet/quality -q, batch -b, ...);
//   a value is never taken from another option: `--model --topk 3` is an error naming --model;
//   `--` ends the options (later arguments are positional, even when they start with '-');
//   `-` is an ordinary positional (commands read it as stdin or write it as stdout);
//   --help/-h prints the usage and exits 0; --version prints the version and exits 0;
//   exit status 2 for every usage error (the message names the option), 1 for runtime failures.
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

// "scratchcv 0.1.0" (the project version from CMake).
std::string version_string();

// One subcommand of a command that has several (`scratchcv mnist train ...`). A null summary
// keeps it out of the usage and of the "unknown subcommand" message (a testing aid).
struct Subcommand {
  const char* name;
  const char* summary;
  CommandFn fn;
};
// Runs the subcommand args[0] names with the arguments after it. The usage is
// "usage: scratchcv <synopsis>", a line per subcommand with its summary, then `notes`. No
// arguments: prints the usage to stdout and returns 2; --help/-h: prints it and returns 0; an
// unknown name: prints "scratchcv <command>: unknown <what> 'NAME' (<names>)" to stderr and
// returns 2.
int run_subcommand(const std::string& command, const std::string& what, const std::string& synopsis,
                   const std::vector<Subcommand>& subs, const std::string& notes,
                   const std::vector<std::string>& args);

// Exit status of a usage error (bad option, bad value, missing argument).
constexpr int kUsageError = 2;
// Exit status of a runtime failure (unreadable file, corrupt model, ...).
constexpr int kRuntimeError = 1;

// A declarative parser: declare options, then parse(). Errors print one line to stderr
// ("scratchcv <cmd>: ...").
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
  // The --threads option of every command (-t), resolved by parse() with the library's rule
  // (scv::choose_threads): the value, or `fallback` when not given ("" = the usable CPUs), is
  // stored as a count in *out; a bad value is a usage error naming --threads, a value above the
  // usable CPUs is clamped with one warning line on stderr. `why` follows the default in --help.
  ArgParser& threads(int* out, const std::string& fallback = "", const std::string& why = "");
  // Limits for the option declared last (int or double): a value outside [lo, hi] is a usage
  // error "--NAME must be between LO and HI, got V", checked by parse().
  ArgParser& range(double lo, double hi);
  // Free text appended to --help (notes).
  ArgParser& epilog(const std::string& text);
  // A command line shown under "examples:" at the end of --help, without the leading
  // "scratchcv " (e.g. "fetch resnet50 --weights V2").
  ArgParser& example(const std::string& command_line);

  // Returns false on --help/--version (help_requested()) or on an error (already printed).
  bool parse(const std::vector<std::string>& args, std::vector<std::string>* positionals);
  bool help_requested() const { return help_; }
  // Exit code for a failed parse: 0 after --help/--version, 2 after a usage error.
  int exit_code() const { return help_ ? 0 : kUsageError; }
  // True when the option was given on the command line (after a successful parse()).
  bool given(const std::string& name) const;
  std::string usage() const;
  // Prints "scratchcv <cmd>: <message>" to stderr and returns 1 (runtime failure).
  int fail(const std::string& message) const;
  // Prints "scratchcv <cmd>: warning: <message>" to stderr; the command goes on.
  void warn(const std::string& message) const;
  // Prints "scratchcv <cmd>: <message>" to stderr and returns 2 (usage error).
  int usage_error(const std::string& message) const;

 private:
  struct Opt {
    std::string name, short_name, meta, help;
    bool* b = nullptr;
    std::string* s = nullptr;
    int* i = nullptr;
    double* d = nullptr;
    int* threads = nullptr;  // --threads: resolved from the text (or threads_fallback)
    std::string threads_fallback;
    bool has_range = false;
    double lo = 0, hi = 0;
    bool given = false;
  };
  // Appends an option (the pointer to its value is set by the caller) and returns it.
  Opt& add_opt(const std::string& name, const std::string& meta, const std::string& help);
  // The option that owns short name `s` here (the first declared with it), or nullptr.
  const Opt* given_short_owner(const char* s) const;
  // The steps of parse(): --help/--version (true: printed), "a value is never another option"
  // (false: error printed), and storing one given option's value with its type and range check.
  bool handle_help_or_version(const std::vector<std::string>& args);
  bool check_values_present(const std::vector<std::string>& args) const;
  bool store_value(Opt& o, const std::string& value) const;
  bool resolve_threads(const Opt& o, const std::string& value) const;
  std::string command_, summary_, positional_usage_, epilog_;
  std::vector<std::string> examples_;
  std::vector<Opt> opts_;
  bool help_ = false;
};

}  // namespace scv::cli
