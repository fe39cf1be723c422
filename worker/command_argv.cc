#include "worker/command_argv.h"

#include <map>

#include "worker/task_io.h"

namespace fanout::worker {
namespace {

constexpr std::string_view kShells[] = {"sh", "bash", "dash", "ash", "ksh", "mksh", "zsh"};

std::string_view Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Where the reference to positional parameter n stands in the script.
enum class Quote { kNone, kSingle, kDouble, kAnsiC, kSubst, kBacktick, kArith };

std::string Reference(Quote q, size_t n) {
  std::string ref = "${" + std::to_string(n) + "}";
  switch (q) {
    case Quote::kDouble:
    case Quote::kArith:  // quotes are not allowed there; the shell evaluates the value
      return ref;
    case Quote::kSingle:
      return "'\"" + ref + "\"'";  // close the quote, a quoted expansion, reopen
    case Quote::kAnsiC:
      return "'\"" + ref + "\"$'";
    default:
      return "\"" + ref + "\"";
  }
}

// Rewrites the placeholders of a shell script as positional parameter references. `first` is
// the number of the first free positional parameter; the values referenced go to *values, in
// parameter order (an input referenced twice is one parameter).
Result<std::string> RewriteScript(std::string_view s, const wire::TaskDesc& task, const List& args,
                                  size_t first, std::vector<std::string>* values) {
  struct Frame {
    Quote quote;
    int parens;  // kSubst: nesting of '(' inside $( ... )
  };
  std::vector<Frame> stack = {{Quote::kNone, 0}};
  std::map<size_t, size_t> param_of_input;
  std::string out;
  size_t i = 0;
  auto push = [&](Quote q) { stack.push_back({q, 0}); };
  auto pop = [&] {
    if (stack.size() > 1) stack.pop_back();
  };
  while (i < s.size()) {
    if (s.compare(i, 2, "{{") == 0) {
      size_t close = s.find("}}", i + 2);
      if (close != std::string_view::npos) {
        auto name = PlaceholderInput(s.substr(i, close + 2 - i));
        if (name) {
          auto idx = FindInput(task, *name);
          if (!idx || *idx >= args.size()) {
            return Err(UnknownInputError(s, *name, task));
          }
          auto [it, added] = param_of_input.emplace(*idx, first + values->size());
          if (added) values->push_back(PlaceholderText(args[*idx]));
          out += Reference(stack.back().quote, it->second);
          i = close + 2;
          continue;
        }
      }
    }
    char c = s[i];
    char next = i + 1 < s.size() ? s[i + 1] : '\0';
    Frame& top = stack.back();
    // A backslash escapes the next character (not in '...'); "\{{inputs.x}}" is still a
    // placeholder.
    bool escaped_pair =
        c == '\\' && next != '\0' && next != '{' && top.quote != Quote::kSingle;
    if (escaped_pair) {
      out += c;
      out += next;
      i += 2;
      continue;
    }
    if (c == '$' && next == '(' && i + 2 < s.size() && s[i + 2] == '(' &&
        top.quote != Quote::kSingle && top.quote != Quote::kAnsiC) {
      out += "$((";
      i += 3;
      push(Quote::kArith);
      continue;
    }
    switch (top.quote) {
      case Quote::kArith:
        if (c == '(') {
          ++top.parens;
        } else if (c == ')' && top.parens > 0) {
          --top.parens;
        } else if (c == ')' && next == ')') {
          out += "))";
          i += 2;
          pop();
          continue;
        }
        break;
      case Quote::kSingle:
      case Quote::kAnsiC:
        if (c == '\'') pop();
        break;
      case Quote::kDouble:
        if (c == '"') {
          pop();
        } else if (c == '$' && next == '(') {
          out += "$(";
          i += 2;
          push(Quote::kSubst);
          continue;
        } else if (c == '`') {
          push(Quote::kBacktick);
        }
        break;
      default:  // unquoted, in $( ... ) or in `...`
        if (c == '\'') {
          push(Quote::kSingle);
        } else if (c == '$' && next == '\'') {
          out += "$'";
          i += 2;
          push(Quote::kAnsiC);
          continue;
        } else if (c == '"') {
          push(Quote::kDouble);
        } else if (c == '$' && next == '(') {
          out += "$(";
          i += 2;
          push(Quote::kSubst);
          continue;
        } else if (c == '`') {
          if (top.quote == Quote::kBacktick) {
            pop();
          } else {
            push(Quote::kBacktick);
          }
        } else if (c == '(' && top.quote == Quote::kSubst) {
          ++top.parens;
        } else if (c == ')' && top.quote == Quote::kSubst) {
          if (top.parens == 0) {
            pop();
          } else {
            --top.parens;
          }
        }
    }
    out += c;
    ++i;
  }
  return out;
}

}  // namespace

int ShellScriptIndex(const std::vector<std::string>& argv) {
  if (argv.empty()) return -1;
  std::string_view name = Basename(argv[0]);
  bool shell = false;
  for (std::string_view s : kShells) shell = shell || name == s;
  if (!shell) return -1;
  bool has_c = false;
  size_t i = 1;
  for (; i < argv.size(); ++i) {
    std::string_view a = argv[i];
    if (a == "--" || a == "-") {
      ++i;
      break;
    }
    if (a.size() < 2 || (a[0] != '-' && a[0] != '+')) break;  // the first operand
    if (a.starts_with("--")) continue;                         // bash long options (--norc)
    if (a[0] == '-' && a.find('c') != std::string_view::npos) has_c = true;
    // -o NAME / +o NAME / -O NAME (bash shopt) take the next argument.
    if (a.back() == 'o' || a.back() == 'O') ++i;
  }
  if (!has_c || i >= argv.size()) return -1;
  return static_cast<int>(i);
}

Result<std::vector<std::string>> BuildCommandArgv(const wire::TaskDesc& task, const List& args) {
  const std::vector<std::string>& command = task.command;
  int script = ShellScriptIndex(command);
  std::vector<std::string> argv;
  for (size_t i = 0; i < command.size(); ++i) {
    if (static_cast<int>(i) == script) {
      argv.push_back(command[i]);  // rewritten below, once the operands after it are known
      continue;
    }
    ASSIGN_OR_RETURN(std::string a, SubstitutePlaceholders(command[i], task, args));
    argv.push_back(std::move(a));
  }
  if (script < 0) return argv;
  // $0, $1, ... are the operands after the script; ours come after them.
  size_t operands = argv.size() - static_cast<size_t>(script) - 1;
  if (operands == 0) {
    argv.emplace_back(Basename(command[0]));  // $0, as the shell names itself in messages
    operands = 1;
  }
  std::vector<std::string> values;
  ASSIGN_OR_RETURN(std::string rewritten,
                   RewriteScript(command[static_cast<size_t>(script)], task, args, operands,
                                 &values));
  argv[static_cast<size_t>(script)] = std::move(rewritten);
  for (auto& v : values) argv.push_back(std::move(v));
  return argv;
}

}  // namespace fanout::worker
