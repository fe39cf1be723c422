// The status page (coordinator/status_page.html) in headless Chromium, driven over the Chrome
// DevTools Protocol on a pipe (--remote-debugging-pipe: commands in on fd 3, answers out on fd 4,
// each a JSON text ended by a NUL byte): a real map with failures is followed live until it
// ends, the grid and the legend show the counts `fanout status` gives, a click on a failed
// subtask's cell opens its error, and a screenshot is saved (its path is printed).
//
// Skipped, with a message saying so, when /usr/bin/chromium is not installed (Debian package
// `chromium`; deploy/install-deps.sh --optional installs it). FANOUT_PAGE_TEST_N sets the
// number of subtasks (default 20000; the note's screenshot used 100000).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/json.h"
#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
constexpr const char* kChromium = "/usr/bin/chromium";

// Headless Chromium in its own process group with a fresh profile, and a DevTools session on
// one page. The destructor closes the browser and SIGKILLs its process group (only it).
class Browser {
 public:
  explicit Browser(const std::string& dir) : profile_(dir + "/chromium-profile") {
    // A browser that exits makes a write to its pipe fail with EPIPE (a test failure), not
    // kill the test with SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    int to_chrome[2], from_chrome[2];
    if (pipe2(to_chrome, O_CLOEXEC) != 0 || pipe2(from_chrome, O_CLOEXEC) != 0) return;
    std::string log = dir + "/chromium.log";
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      // Moved above 4 first: a pipe end that already is fd 3 or 4 would keep its O_CLOEXEC
      // through a dup2 onto itself, and the other dup2 could overwrite it.
      int cmd_in = fcntl(to_chrome[0], F_DUPFD, 10), answers_out = fcntl(from_chrome[1], F_DUPFD, 10);
      dup2(cmd_in, 3);
      dup2(answers_out, 4);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      int null = open("/dev/null", O_RDONLY);
      dup2(null, 0);
      std::string user_data = "--user-data-dir=" + profile_;
      const char* argv[] = {kChromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--no-default-browser-check", "--disable-background-networking", "--disable-extensions",
                            "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
                            "--remote-debugging-pipe", "--window-size=1400,1000", user_data.c_str(),
                            "about:blank", nullptr};
      execv(kChromium, const_cast<char**>(argv));
      _exit(127);
    }
    close(to_chrome[0]);
    close(from_chrome[1]);
    out_ = to_chrome[1];
    in_ = from_chrome[0];
  }
  ~Browser() {
    if (pid_ > 0) {
      Call("Browser.close", Json::object(), false, std::chrono::seconds(5));
      bool exited = WaitFor([&] { return waitpid(pid_, nullptr, WNOHANG) == pid_; },
                            milliseconds(5000), milliseconds(50));
      kill(-pid_, SIGKILL);  // what it started, and itself if it did not close
      if (!exited) waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
    if (in_ >= 0) close(in_);
  }

  bool started() const { return pid_ > 0; }

  // Attaches to the first page target; false while there is none yet.
  bool AttachToPage() {
    Json targets = Call("Target.getTargets", Json::object(), false);
    for (const Json& t : targets.value("targetInfos", Json::array())) {
      if (t.value("type", "") != "page") continue;
      Json r = Call("Target.attachToTarget", {{"targetId", t["targetId"]}, {"flatten", true}}, false);
      session_ = r.value("sessionId", "");
      return !session_.empty();
    }
    return false;
  }

  // One DevTools command; its result (null on timeout or error, with a gtest failure).
  Json Call(const std::string& method, const Json& params, bool on_page = true,
            std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    int id = ++next_id_;
    Json msg{{"id", id}, {"method", method}, {"params", params}};
    if (on_page) msg["sessionId"] = session_;
    std::string text = msg.dump();
    text.push_back('\0');
    if (write(out_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) return nullptr;
    auto deadline = SteadyClock::now() + timeout;
    while (SteadyClock::now() < deadline) {
      size_t nul = buffer_.find('\0');
      if (nul == std::string::npos) {
        pollfd p{in_, POLLIN, 0};
        int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count());
        if (poll(&p, 1, std::max(left, 1)) <= 0) continue;
        char chunk[65536];
        ssize_t n = read(in_, chunk, sizeof chunk);
        if (n <= 0) return nullptr;
        buffer_.append(chunk, static_cast<size_t>(n));
        continue;
      }
      Json reply = Json::parse(buffer_.substr(0, nul), nullptr, false);
      buffer_.erase(0, nul + 1);
      if (!reply.is_object() || reply.value("id", -1) != id) continue;  // an event, or another answer
      if (reply.contains("error")) {
        ADD_FAILURE() << method << ": " << reply["error"].dump();
        return nullptr;
      }
      return reply.value("result", Json::object());
    }
    return nullptr;
  }

  // Evaluates a JavaScript expression in the page; its value (JSON-able), or null.
  Json Eval(const std::string& expression) {
    Json r = Call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}});
    if (!r.is_object() || !r.contains("result")) return nullptr;
    return r["result"].value("value", Json());
  }

  void Click(double x, double y) {
    for (const char* type : {"mouseMoved", "mousePressed", "mouseReleased"})
      Call("Input.dispatchMouseEvent",
           {{"type", type}, {"x", x}, {"y", y}, {"button", "left"}, {"clickCount", 1}});
  }

  // A PNG of the viewport, written to `path`.
  bool Screenshot(const std::string& path) {
    Json r = Call("Page.captureScreenshot", {{"format", "png"}});
    if (!r.is_object() || !r.contains("data")) return false;
    Result<std::string> png = Base64Decode(r["data"].get<std::string>());
    if (!png) return false;
    std::ofstream(path, std::ios::binary) << *png;
    return std::filesystem::file_size(path) > 0;
  }

 private:
  std::string profile_;
  pid_t pid_ = -1;
  int out_ = -1, in_ = -1;
  int next_id_ = 0;
  std::string session_;
  std::string buffer_;
};

TEST(StatusPageTest, TheGridFollowsARunShowsTheCountsOfStatusAndAFailedSubtasksErrorIsOneClickAway) {
  if (access(kChromium, X_OK) != 0)
    GTEST_SKIP() << "chromium is not installed (Debian package 'chromium', `deploy/install-deps.sh --optional`): "
                    "the status page was NOT tested in a browser";
  int n = 20000;
  if (const char* v = std::getenv("FANOUT_PAGE_TEST_N"); v != nullptr && std::atoi(v) > 0) n = std::atoi(v);
  ClusterOptions o;
  o.workers = 2;
  o.slots = 8;
  Cluster cluster(o);
  ASSERT_TRUE(cluster.WaitForWorkers(2, milliseconds(30000)));
  int port = ParseJsonOrNull(cluster.Fanout("health", "-o", "json").out).value("http_port", 0);
  ASSERT_GT(port, 0);

  // Every 997th subtask fails: about 0.1%, tolerated.
  std::string xs = "[", bad = "[";
  for (int i = 0; i < n; ++i) xs += (i ? "," : "") + std::to_string(i);
  for (int i = 13; i < n; i += 997) bad += (bad.size() > 1 ? "," : "") + std::to_string(i);
  xs += "]";
  bad += "]";
  std::string xs_file = cluster.dir().WriteFile("xs.json", xs);
  std::string spec = cluster.dir().WriteFile(
      "page.yaml",
      "version: 1\ntasks:\n  check:\n    function: builtin.fail_if\n    inputs: {x: int, fail: \"list<int>\"}\n"
      "    outputs: {o0: int}\nworkflows:\n  w:\n    inputs:\n      xs: {type: \"list<int>\"}\n"
      "      bad: {type: \"list<int>\", default: " + bad + "}\n"
      "    nodes:\n      - id: m\n        map: check\n        inputs: {x: $inputs.xs}\n        bind: {fail: $inputs.bad}\n"
      "        min_success_ratio: 0.99\n    outputs: {o0: $m.o0}\n");
  std::string exec = cluster.Submit({spec, "-i", "xs=@" + xs_file});
  ASSERT_FALSE(exec.empty());

  // The page opens while the run goes on and follows it by polling the API.
  Browser browser(cluster.dir().path());
  ASSERT_TRUE(browser.started());
  ASSERT_TRUE(WaitFor([&] { return browser.AttachToPage(); }, milliseconds(30000), milliseconds(200)))
      << TailFile(cluster.dir().Path("chromium.log"), 20);
  browser.Call("Page.enable", Json::object());
  browser.Call("Page.navigate", {{"url", "http://127.0.0.1:" + std::to_string(port) + "/#/e/" + exec}});
  Json shown;
  ASSERT_TRUE(WaitFor(
      [&] {
        Json text = browser.Eval("document.getElementById('state').textContent");
        shown = text.is_string() ? ParseJsonOrNull(text.get<std::string>()) : Json();
        return shown.is_object() && shown.value("phase", "") == "SUCCEEDED" && shown["nodes"].contains("m") &&
               shown["nodes"]["m"].value("drawn", 0) == n && shown["nodes"]["m"].value("phase", "") == "SUCCEEDED";
      },
      milliseconds(240000), milliseconds(500)))
      << shown.dump() << "\n" << TailFile(cluster.dir().Path("chromium.log"), 20);

  // The legend and the grid say what `fanout status` says.
  Json status = cluster.Status(exec);
  ASSERT_TRUE(status.is_object());
  const Json& counts = status["nodes"][0]["counts"];
  const Json& legend = shown["nodes"]["m"]["legend"];
  const Json& grid = shown["nodes"]["m"]["grid"];
  int failed = counts["failed"], succeeded = counts["succeeded"], cached = counts["cached"];
  EXPECT_EQ(failed, (n - 13 + 996) / 997);
  EXPECT_EQ(legend["failed"], failed);
  EXPECT_EQ(legend["succeeded"].get<int>() + legend["cached"].get<int>(), succeeded);
  EXPECT_EQ(legend["cached"], cached);
  EXPECT_EQ(grid.value("f", 0), failed);
  EXPECT_EQ(grid.value("s", 0) + grid.value("c", 0), succeeded);

  // A click on a failed subtask's cell opens its error.
  const Json& listed = status["nodes"][0]["failed"];
  ASSERT_FALSE(listed.empty());
  int index = listed[listed.size() / 2]["index"];
  Json at = browser.Eval("JSON.stringify(fanoutCellCenter('m', " + std::to_string(index) + "))");
  Json xy = ParseJsonOrNull(at.is_string() ? at.get<std::string>() : "");
  ASSERT_TRUE(xy.is_object()) << at.dump();
  browser.Call("Runtime.evaluate", {{"expression", "window.scrollTo(0, 0)"}});
  browser.Click(xy["x"].get<double>(), xy["y"].get<double>());
  Json detail;
  ASSERT_TRUE(WaitFor(
      [&] {
        detail = browser.Eval(
            "(() => { const d = document.getElementById('detail'); return d.getAttribute('data-loaded') === 'yes' ? "
            "{index: Number(d.getAttribute('data-index')), phase: d.getAttribute('data-phase'), "
            "error: document.getElementById('detail-error').textContent} : null; })()");
        return detail.is_object();
      },
      milliseconds(30000), milliseconds(200)));
  EXPECT_EQ(detail["index"], index) << detail.dump();
  EXPECT_EQ(detail["phase"], "failed");
  EXPECT_EQ(detail["error"], "x=" + std::to_string(index) + " is in the fail list") << detail.dump();

  // The picture, for people.
  std::string dir = BinDir() + "/../test-artifacts";
  std::filesystem::create_directories(dir);
  std::string png = std::filesystem::weakly_canonical(dir + "/status_page_" + std::to_string(n) + ".png").string();
  ASSERT_TRUE(browser.Screenshot(png));
  std::cout << "status page screenshot (" << n << " subtasks, " << failed << " failed, subtask " << index
            << " opened): " << png << std::endl;
}

}  // namespace
}  // namespace fanout::testing
