#include "cli.h"

#include "scratchcv/thread_pool.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#ifndef SCV_VERSION
#define SCV_VERSION "0.0.0"
#endif

namespace scv::cli {

std::map<std::string, CommandInfo>& registry() {
  static std::map<std::string, CommandInfo> r;
  return r;
}

Command::Command(const char* name, const char* summary, CommandFn fn) {
  registry()[name] = CommandInfo{summary, std::move(fn)};
}

std::string version_string() {
  return std::string("scratchcv ") + SCV_VERSION;
}

int run_subcommand(const std::string& command, const std::string& what, const std::string& synopsis,
                   const std::vector<Subcommand>& subs, const std::string& notes,
                   const std::vector<std::string>& args) {
  size_t width = 0;
  for (const Subcommand& s : subs)
    if (s.summary) width = std::max(width, std::string(s.name).size() + 2);
  std::string usage = "usage: scratchcv " + synopsis + "\n\n", names;
  for (const Subcommand& s : subs) {
    if (!s.summary) continue;
    std::string name = s.name;
    name.resize(width, ' ');
    usage += "  " + name + s.summary + "\n";
    names += (names.empty() ? "" : ", ") + std::string(s.name);
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << usage << "\n" << notes;
    return args.empty() ? kUsageError : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const Subcommand& s : subs)
    if (args[0] == s.name) return s.fn(rest);
  std::cerr << "scratchcv " << command << ": unknown " << what << " '" << args[0] << "' (" << names
            << ")\n";
  return kUsageError;
}

namespace {

// The one table of short names: the same letter means the same thing on every command. A
// command that declares two long options sharing a letter gets it for the first only.
const char* short_name_for(const std::string& name) {
  static const std::map<std::string, const char*> kShort = {
      {"model", "m"},   {"threads", "t"},   {"topk", "k"},   {"ksize", "k"},
      {"output", "o"},  {"out", "o"},       {"quiet", "q"},  {"quality", "q"},
      {"batch", "b"},   {"data", "d"},      {"epochs", "e"}, {"input", "i"},
      {"weights", "w"}, {"recursive", "r"}, {"sigma", "s"},  {"list", "l"},
  };
  auto it = kShort.find(name);
  return it == kShort.end() ? nullptr : it->second;
}

std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

ArgParser::ArgParser(std::string command, std::string summary, std::string positional_usage)
    : command_(std::move(command)),
      summary_(std::move(summary)),
      positional_usage_(std::move(positional_usage)) {}

ArgParser::Opt& ArgParser::add_opt(const std::string& name, const std::string& meta,
                                   const std::string& help) {
  Opt& o = opts_.emplace_back();
  o.name = name, o.meta = meta, o.help = help;
  return o;
}
ArgParser& ArgParser::flag(const std::string& name, bool* out, const std::string& help) {
  add_opt(name, "", help).b = out;
  return *this;
}
ArgParser& ArgParser::option(const std::string& name, std::string* out, const std::string& meta,
                             const std::string& help) {
  add_opt(name, meta, help).s = out;
  return *this;
}
ArgParser& ArgParser::option(const std::string& name, int* out, const std::string& meta,
                             const std::string& help) {
  add_opt(name, meta, help).i = out;
  return *this;
}
ArgParser& ArgParser::option(const std::string& name, double* out, const std::string& meta,
                             const std::string& help) {
  add_opt(name, meta, help).d = out;
  return *this;
}
ArgParser& ArgParser::threads(int* out, const std::string& fallback, const std::string& why) {
  const std::string dflt = fallback.empty() ? ": the usable CPUs" : " " + fallback;
  Opt& o = add_opt("threads", "N", "worker threads (default" + dflt + why + ")");
  o.threads = out;
  o.threads_fallback = fallback;
  return *this;
}
ArgParser& ArgParser::range(double lo, double hi) {
  if (!opts_.empty()) {
    opts_.back().has_range = true;
    opts_.back().lo = lo;
    opts_.back().hi = hi;
  }
  return *this;
}
ArgParser& ArgParser::epilog(const std::string& text) {
  epilog_ = text;
  return *this;
}
ArgParser& ArgParser::example(const std::string& command_line) {
  examples_.push_back(command_line);
  return *this;
}

const ArgParser::Opt* ArgParser::given_short_owner(const char* s) const {
  for (const Opt& o : opts_) {
    const char* t = short_name_for(o.name);
    if (t && std::string(t) == s) return &o;
  }
  return nullptr;
}

bool ArgParser::given(const std::string& name) const {
  for (const Opt& o : opts_)
    if (o.name == name) return o.given;
  return false;
}

std::string ArgParser::usage() const {
  // Short names are assigned in declaration order, as parse() does.
  std::vector<std::string> used = {"h"};
  std::ostringstream os;
  os << "usage: scratchcv " << command_ << (opts_.empty() ? "" : " [options]")
     << (positional_usage_.empty() ? "" : " " + positional_usage_) << "\n\n"
     << summary_ << "\n\noptions:\n";
  auto line = [&](std::string left, const std::string& help) {
    if (left.size() < 28)
      left.resize(28, ' ');
    else
      left += "\n" + std::string(28, ' ');
    os << left << help << "\n";
  };
  for (const Opt& o : opts_) {
    const char* s = short_name_for(o.name);
    std::string left = "  ";
    if (s && std::find(used.begin(), used.end(), s) == used.end()) {
      used.push_back(s);
      left += std::string("-") + s + ", ";
    } else {
      left += "    ";
    }
    left += "--" + o.name + (o.meta.empty() ? "" : " " + o.meta);
    std::string help = o.help;
    if (o.has_range) help += " [" + format_number(o.lo) + ".." + format_number(o.hi) + "]";
    line(left, help);
  }
  line("  -h, --help", "show this help");
  line("      --version", "print the version");
  os << "\n'--' ends the options; exit status 0 ok, 1 failure, 2 usage error.\n";
  if (!epilog_.empty()) os << "\n" << epilog_ << "\n";
  if (!examples_.empty()) os << "\n" << (examples_.size() > 1 ? "examples:" : "example:") << "\n";
  for (const std::string& e : examples_) os << "  scratchcv " << e << "\n";
  return os.str();
}

int ArgParser::fail(const std::string& message) const {
  std::cerr << "scratchcv " << command_ << ": " << message << "\n";
  return kRuntimeError;
}

void ArgParser::warn(const std::string& message) const {
  std::cerr << "scratchcv " << command_ << ": warning: " << message << "\n";
}

int ArgParser::usage_error(const std::string& message) const {
  std::cerr << "scratchcv " << command_ << ": " << message << "\n";
  return kUsageError;
}

bool ArgParser::handle_help_or_version(const std::vector<std::string>& args) {
  // --help and --version win over everything else before `--` (as in most tools).
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a == "--help" || a == "-h") {
      help_ = true;
      std::cout << usage();
      return true;
    }
    if (a == "--version") {
      help_ = true;
      std::cout << version_string() << "\n";
      return true;
    }
  }
  return false;
}

bool ArgParser::check_values_present(const std::vector<std::string>& args) const {
  // A value is never taken from another option: `--model --topk 3` names --model (CLI11 would
  // take "--topk" as the path). A value that starts with '-' is written --model=-x.
  auto looks_like_option = [](const std::string& a) {
    if (a.size() < 2 || a[0] != '-') return false;
    char* end = nullptr;
    std::strtod(a.c_str(), &end);
    return *end != '\0';  // "-1", "-0.5" are values
  };
  for (size_t k = 0; k < args.size(); ++k) {
    const std::string& a = args[k];
    if (a == "--") break;
    for (const Opt& o : opts_) {
      if (o.b) continue;
      const char* s = short_name_for(o.name);
      const bool is_short = s && a == std::string("-") + s && given_short_owner(s) == &o;
      if (a != "--" + o.name && !is_short) continue;
      if (k + 1 >= args.size()) {
        usage_error(a + " needs a value " + o.meta);
        return false;
      }
      if (looks_like_option(args[k + 1])) {
        usage_error(a + " needs a value " + o.meta + ", got the option " + args[k + 1] +
                    " (write " + a + "=VALUE for a value starting with '-')");
        return false;
      }
      ++k;  // skip the value
      break;
    }
  }
  return true;
}

bool ArgParser::store_value(Opt& o, const std::string& value) const {
  if (o.b) {
    *o.b = true;
    return true;
  }
  if (o.s) {
    *o.s = value;
    return true;
  }
  char* end = nullptr;
  errno = 0;
  double v = 0;
  if (o.i) {
    long lv = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end || errno || lv < -2147483647L || lv > 2147483647L) {
      usage_error("--" + o.name + " expects an integer, got '" + value + "'");
      return false;
    }
    v = double(lv);
  } else {
    v = std::strtod(value.c_str(), &end);
    if (value.empty() || *end || errno || !std::isfinite(v)) {
      usage_error("--" + o.name + " expects a number, got '" + value + "'");
      return false;
    }
  }
  if (o.has_range && !(v >= o.lo && v <= o.hi)) {
    usage_error("--" + o.name + " must be between " + format_number(o.lo) + " and " +
                format_number(o.hi) + ", got " + value);
    return false;
  }
  if (o.i)
    *o.i = int(v);
  else
    *o.d = v;
  return true;
}

bool ArgParser::resolve_threads(const Opt& o, const std::string& value) const {
  std::string warning;
  Result<int> n = choose_threads(o.given ? value : o.threads_fallback, &warning);
  if (!n.ok()) {
    usage_error(n.status().message());
    return false;
  }
  if (!warning.empty()) warn(warning);
  *o.threads = *n;
  return true;
}

bool ArgParser::parse(const std::vector<std::string>& args, std::vector<std::string>* pos) {
  if (handle_help_or_version(args)) return false;
  if (!check_values_present(args)) return false;
  CLI::App app(summary_, "scratchcv " + command_);
  app.set_help_flag();
  app.allow_extras(false);
  std::vector<std::string> values(opts_.size());
  std::vector<CLI::Option*> handles(opts_.size());
  std::vector<std::string> used = {"h"};
  for (size_t k = 0; k < opts_.size(); ++k) {
    const Opt& o = opts_[k];
    std::string names = "--" + o.name;
    if (const char* s = short_name_for(o.name);
        s && std::find(used.begin(), used.end(), s) == used.end()) {
      used.push_back(s);
      names += std::string(",-") + s;
    }
    if (o.b) {
      handles[k] = app.add_flag(names, o.help);
    } else {
      handles[k] = app.add_option(names, values[k], o.help)
                       ->type_name(o.meta)
                       ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  }
  std::vector<std::string> positional;
  app.add_option("positional", positional, positional_usage_);
  // CLI11 takes the next word as the value of `--name=` (an empty value); pass the empty value
  // as a word of its own so `--layers=` means "no layers".
  std::vector<std::string> reversed;
  for (auto it = args.rbegin(); it != args.rend(); ++it) {
    if (it->size() > 3 && it->starts_with("--") && it->back() == '=' &&
        it->find('=') == it->size() - 1) {
      reversed.push_back("");
      reversed.push_back(it->substr(0, it->size() - 1));
    } else {
      reversed.push_back(*it);
    }
  }
  try {
    app.parse(reversed);
  } catch (const CLI::ExtrasError& e) {
    // "The following arguments were not expected: --foo" -> name the first one.
    std::string what = e.what();
    const size_t colon = what.find(": ");
    std::string extra = colon == std::string::npos ? what : what.substr(colon + 2);
    if (size_t sp = extra.find(' '); sp != std::string::npos) extra.resize(sp);
    usage_error("unknown option " + extra + " (see --help)");
    return false;
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    // CLI11 says "--model: 1 required TEXT missing" when the next word is another option.
    if (what.find("required") != std::string::npos && what.find("missing") != std::string::npos) {
      const std::string name = what.substr(0, what.find(':'));
      for (const Opt& o : opts_)
        if (name == "--" + o.name) what = name + " needs a value " + o.meta;
    }
    usage_error(what + " (see --help)");
    return false;
  }
  for (size_t k = 0; k < opts_.size(); ++k) {
    opts_[k].given = handles[k]->count() > 0;
    if (opts_[k].given && !opts_[k].threads && !store_value(opts_[k], values[k])) return false;
  }
  for (size_t k = 0; k < opts_.size(); ++k)
    if (opts_[k].threads && !resolve_threads(opts_[k], values[k])) return false;
  *pos = std::move(positional);
  return true;
}

}  // namespace scv::cli
