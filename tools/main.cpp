// scratchcv: computer vision from scratch. Dispatches to the registered subcommands.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli.h"
#include "scratchcv/file_util.h"

static void print_help() {
  std::cout << "usage: scratchcv <command> [options]\n\n"
               "Computer vision written from scratch: ResNet inference, classic image\n"
               "processing and CNN training, every algorithm our own code.\n\ncommands:\n";
  for (const auto& [name, info] : scv::cli::registry()) {
    std::string left = "  " + name;
    if (left.size() < 14) left.resize(14, ' ');
    std::cout << left << info.summary << "\n";
  }
  std::cout << "\nRun 'scratchcv <command> --help' for the options of one command.\n"
               "Exit status: 0 ok, 1 failure, 2 usage error. --version prints the version.\n";
}

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    print_help();
    return argc < 2 ? 2 : 0;
  }
  if (std::string(argv[1]) == "--version" || std::string(argv[1]) == "version") {
    std::cout << scv::cli::version_string() << "\n";
    return 0;
  }
  const std::string cmd = argv[1];
  auto& reg = scv::cli::registry();
  auto it = reg.find(cmd);
  if (it == reg.end()) {
    std::cerr << "scratchcv: unknown command '" << cmd << "' (run 'scratchcv --help')\n";
    return 2;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  // --version on every command (also those with subcommands of their own).
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a == "--version") {
      std::cout << scv::cli::version_string() << "\n";
      return 0;
    }
  }
  // No command replaces a file it read (scratchcv preprocess a.jpg a.jpg, infer --input x
  // --output x, links to an input): write_file_atomic refuses them.
  scv::protect_inputs(true);
  try {
    return it->second.fn(args);
  } catch (const std::bad_alloc&) {
    std::cerr << "scratchcv " << cmd << ": out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "scratchcv " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
