#include "cli.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace scv::cli {

std::map<std::string, CommandInfo>& registry() {
  static std::map<std::string, CommandInfo> r;
  return r;
}

Command::Command(const char* name, const char* summary, CommandFn fn) {
  registry()[name] = CommandInfo{summary, std::move(fn)};
}

ArgParser::ArgParser(std::string command, std::string summary, std::string positional_usage)
    : command_(std::move(command)),
      summary_(std::move(summary)),
      positional_usage_(std::move(positional_usage)) {}

ArgParser& ArgParser::flag(const std::string& name, bool* out, const std::string& help) {
  Opt o;
  o.name = name, o.help = help, o.b = out;
  opts_.push_back(o);
  return *this;
}
ArgParser& ArgParser::option(const std::string& name, std::string* out, const std::string& meta,
                             const std::string& help) {
  Opt o;
  o.name = name, o.meta = meta, o.help = help, o.s = out;
  opts_.push_back(o);
  return *this;
}
ArgParser& ArgParser::option(const std::string& name, int* out, const std::string& meta,
                             const std::string& help) {
  Opt o;
  o.name = name, o.meta = meta, o.help = help, o.i = out;
  opts_.push_back(o);
  return *this;
}
ArgParser& ArgParser::option(const std::string& name, double* out, const std::string& meta,
                             const std::string& help) {
  Opt o;
  o.name = name, o.meta = meta, o.help = help, o.d = out;
  opts_.push_back(o);
  return *this;
}
ArgParser& ArgParser::epilog(const std::string& text) {
  epilog_ = text;
  return *this;
}

std::string ArgParser::usage() const {
  std::ostringstream os;
  os << "usage: scratchcv " << command_ << (opts_.empty() ? "" : " [options]")
     << (positional_usage_.empty() ? "" : " " + positional_usage_) << "\n\n"
     << summary_ << "\n";
  if (!opts_.empty()) {
    os << "\noptions:\n";
    for (const Opt& o : opts_) {
      std::string left = "  --" + o.name + (o.meta.empty() ? "" : " " + o.meta);
      if (left.size() < 26)
        left.resize(26, ' ');
      else
        left += "\n" + std::string(26, ' ');
      os << left << o.help << "\n";
    }
  }
  os << "  --help                  show this help\n";
  if (!epilog_.empty()) os << "\n" << epilog_ << "\n";
  return os.str();
}

int ArgParser::fail(const std::string& message) const {
  std::cerr << "scratchcv " << command_ << ": " << message << "\n";
  return 1;
}

bool ArgParser::parse(const std::vector<std::string>& args, std::vector<std::string>* pos) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      help_ = true;
      std::cout << usage();
      return false;
    }
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string name = a.substr(2), value;
      bool has_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      const Opt* found = nullptr;
      for (const Opt& o : opts_)
        if (o.name == name) found = &o;
      if (!found) {
        fail("unknown option --" + name + " (see --help)");
        return false;
      }
      if (found->b) {
        if (has_value) {
          fail("--" + name + " takes no value");
          return false;
        }
        *found->b = true;
        continue;
      }
      if (!has_value) {
        if (i + 1 >= args.size()) {
          fail("--" + name + " needs a value " + found->meta);
          return false;
        }
        value = args[++i];
      }
      if (found->s) {
        *found->s = value;
      } else {
        char* end = nullptr;
        errno = 0;
        if (found->i) {
          long v = std::strtol(value.c_str(), &end, 10);
          if (value.empty() || *end || errno || v < -2147483647L || v > 2147483647L) {
            fail("--" + name + " expects an integer, got '" + value + "'");
            return false;
          }
          *found->i = static_cast<int>(v);
        } else {
          double v = std::strtod(value.c_str(), &end);
          if (value.empty() || *end || errno) {
            fail("--" + name + " expects a number, got '" + value + "'");
            return false;
          }
          *found->d = v;
        }
      }
      continue;
    }
    pos->push_back(a);
  }
  return true;
}

}  // namespace scv::cli
