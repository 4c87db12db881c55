#include "pg_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace huibao::pgtest {
namespace {

constexpr const char* kSuperuser = "huibao";
constexpr int kLaunchAttempts = 5;
constexpr auto kReadyTimeout = std::chrono::seconds(60);
constexpr auto kStopTimeout = std::chrono::seconds(30);

std::string tail_of_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  constexpr size_t kTail = 2000;
  return s.size() > kTail ? "..." + s.substr(s.size() - kTail) : s;
}

// Starts argv[0] with output appended to log_path, as (uid, gid) when drop is
// set, in directory cwd. The child gets SIGINT (a fast shutdown for postgres)
// when this process dies, so a crashed test leaves no server behind.
pid_t spawn(const std::vector<std::string>& args, const std::string& log_path,
            const std::string& cwd, bool drop, uid_t uid, gid_t gid) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: only async-signal-safe calls until exec.
  prctl(PR_SET_PDEATHSIG, SIGINT);
  if (getppid() != parent) _exit(126);
  int null_fd = open("/dev/null", O_RDONLY);
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (null_fd < 0 || log_fd < 0) _exit(126);
  if (drop) {
    if (fchown(log_fd, uid, gid) != 0) _exit(126);
    if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(126);
    // Changing credentials clears the parent-death signal: set it again.
    prctl(PR_SET_PDEATHSIG, SIGINT);
    if (getppid() != parent) _exit(126);
  }
  if (chdir(cwd.c_str()) != 0) _exit(126);
  dup2(null_fd, 0);
  dup2(log_fd, 1);
  dup2(log_fd, 2);
  execv(argv[0], argv.data());
  _exit(127);
}

// Waits for pid; its exit status, or -1 when it did not exit normally.
int wait_exit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string conninfo(int port, const std::string& db) {
  return "host=127.0.0.1 port=" + std::to_string(port) + " user=" + kSuperuser + " dbname=" + db +
         " connect_timeout=5";
}

}  // namespace

Status PgServer::start() {
  const char* bin = std::getenv("HUIBAO_PG_BIN");
  bin_ = bin != nullptr && *bin ? bin : "/usr/lib/postgresql/15/bin";
  for (const char* tool : {"initdb", "postgres"}) {
    if (access((bin_ + "/" + tool).c_str(), X_OK) != 0) {
      return Status(Code::kIoError,
                    "PostgreSQL server binaries not found: no executable " + bin_ + "/" + tool +
                        ". Install postgresql-15 (scripts/install-deps.sh) or set HUIBAO_PG_BIN; "
                        "HUIBAO_NO_PG=1 skips the PostgreSQL tests.");
    }
  }
  if (geteuid() == 0) {
    // initdb and postgres refuse to run as root.
    passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      return Status(Code::kIoError,
                    "running as root, but there is no 'postgres' user to run the PostgreSQL "
                    "server as (the postgresql-15 package creates it)");
    }
    drop_privileges_ = true;
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
  }
  std::string templ = (fs::temp_directory_path() / "huibao-pg-XXXXXX").string();
  if (mkdtemp(templ.data()) == nullptr) {
    return Status(Code::kIoError, "cannot create a temporary directory from " + templ);
  }
  dir_ = templ;
  if (drop_privileges_ && chown(dir_.c_str(), uid_, gid_) != 0) {
    return Status(Code::kIoError, "cannot give " + dir_ + " to the postgres user");
  }
  if (Status s = init_cluster(); !s.ok()) return s;
  for (int attempt = 0; attempt < kLaunchAttempts; ++attempt) {
    bool port_taken = false;
    Status s = launch(free_port(), &port_taken);
    if (s.ok() || !port_taken) return s;
  }
  return Status(Code::kIoError, "no free port for PostgreSQL after several attempts");
}

Status PgServer::init_cluster() {
  const std::string log = dir_ + "/initdb.log";
  pid_t pid = spawn({bin_ + "/initdb", "-D", dir_ + "/data", "-U", kSuperuser, "--auth=trust", "-E",
                     "UTF8", "--locale=C", "--no-sync"},
                    log, dir_, drop_privileges_, uid_, gid_);
  if (pid < 0) return Status(Code::kIoError, "fork failed for initdb");
  if (int rc = wait_exit(pid); rc != 0) {
    return Status(Code::kIoError,
                  "initdb failed (exit " + std::to_string(rc) + "):\n" + tail_of_file(log));
  }
  return Status();
}

Status PgServer::launch(int port, bool* port_taken) {
  if (port == 0) return Status(Code::kIoError, "cannot find a free loopback port");
  const std::string log = dir_ + "/postgres.log";
  std::vector<std::string> args = {bin_ + "/postgres",
                                   "-D",
                                   dir_ + "/data",
                                   "-p",
                                   std::to_string(port),
                                   "-k",
                                   dir_,
                                   "-c",
                                   "listen_addresses=127.0.0.1",
                                   "-c",
                                   "shared_buffers=32MB",
                                   "-c",
                                   "max_connections=40"};
  const char* durable = std::getenv("HUIBAO_PG_DURABLE");
  if (durable == nullptr || std::string_view(durable) != "1") {
    for (const char* a : {"-c", "fsync=off", "-c", "full_page_writes=off"}) args.push_back(a);
  }
  pid_ = spawn(args, log, dir_, drop_privileges_, uid_, gid_);
  if (pid_ < 0) return Status(Code::kIoError, "fork failed for postgres");
  const std::string info = conninfo(port, "postgres");
  const auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::string text = tail_of_file(log);
      *port_taken = text.find("could not bind") != std::string::npos ||
                    text.find("already in use") != std::string::npos;
      return Status(Code::kIoError, "postgres exited at start:\n" + text);
    }
    if (PQping(info.c_str()) == PQPING_OK) {
      port_ = port;
      return Status();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop();
  return Status(Code::kIoError,
                "postgres did not accept connections within 60 s:\n" + tail_of_file(log));
}

void PgServer::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGINT);  // fast shutdown: roll back sessions, then exit
    const auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    dir_.clear();
  }
}

Result<std::string> PgServer::create_database() {
  if (pid_ <= 0) return Status(Code::kIoError, "the PostgreSQL server is not running");
  std::string name = "t";  // (GCC 12 -Wrestrict misfires on "t" + std::to_string)
  name += std::to_string(++databases_);
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdb(conninfo(port_, "postgres").c_str()),
                                                  PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return Status(Code::kIoError, std::string("cannot connect: ") + PQerrorMessage(conn.get()));
  }
  PGresult* res = PQexec(conn.get(), ("CREATE DATABASE " + name).c_str());
  bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
  std::string err = PQresultErrorMessage(res);
  PQclear(res);
  if (!ok) return Status(Code::kIoError, "CREATE DATABASE failed: " + err);
  return "postgresql://" + std::string(kSuperuser) + "@127.0.0.1:" + std::to_string(port_) + "/" +
         name;
}

namespace {
std::unique_ptr<PgServer> g_server;
std::string g_failure = "the PostgreSQL server was not started (no selected test needed it)";
}  // namespace

void PgEnvironment::SetUp() {
  if (disabled()) {
    g_failure = "HUIBAO_NO_PG=1";
    return;
  }
  bool needed = false;
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(i);
    for (int j = 0; j < suite.total_test_count(); ++j) {
      const ::testing::TestInfo& t = *suite.GetTestInfo(j);
      std::string_view name = t.name();
      if (t.should_run() && name.ends_with(test_suffix_)) needed = true;
    }
  }
  if (!needed) return;
  auto server = std::make_unique<PgServer>();
  Status s = server->start();
  if (!s.ok()) {
    g_failure = s.message();
    return;  // each PostgreSQL test fails with this message
  }
  g_server = std::move(server);
}

void PgEnvironment::TearDown() {
  g_server.reset();
}

PgServer* PgEnvironment::server() {
  return g_server.get();
}
const std::string& PgEnvironment::failure() {
  return g_failure;
}

bool PgEnvironment::disabled() {
  const char* v = std::getenv("HUIBAO_NO_PG");
  return v != nullptr && std::string_view(v) == "1";
}

}  // namespace huibao::pgtest
