#pragma once
// Private: the reliable pusher's durable outbox, an SQLite database in WAL mode holding every
// task pushed and not yet acknowledged, and the producer's id and next sequence number.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace courier::detail {

/// Owns one SQLite connection. Throws courier::error(storage) when the file cannot be used.
/// @par Thread safety: every member may be called from any thread; each call is one transaction.
class outbox {
public:
    /// Opens (or creates) the outbox at `path`. `fsync_each` makes every insert durable against
    /// power loss (synchronous=FULL); otherwise against a crash of the process (NORMAL).
    outbox(const std::filesystem::path& path, bool fsync_each);
    ~outbox();
    outbox(const outbox&) = delete;
    outbox& operator=(const outbox&) = delete;

    struct restored {
        std::uint64_t producer_id = 0;
        std::uint64_t next_sequence = 1;
        std::vector<std::pair<std::uint64_t, std::vector<std::byte>>> tasks; ///< by sequence
    };
    /// What the file holds: the producer's id (`fresh_id`, stored, on first use), the next
    /// sequence number, and the tasks not yet acknowledged.
    restored restore(std::uint64_t fresh_id);
    /// Stores a task; durable (as configured) when it returns.
    void insert(std::uint64_t seq, std::span<const std::byte> frame);
    /// Forgets acknowledged tasks, and remembers the highest sequence seen so that numbers are
    /// never used twice even when the outbox empties.
    void remove(std::span<const std::uint64_t> seqs);

private:
    void exec(const char* sql);
    [[noreturn]] void fail(const char* what);
    std::mutex mu_;
    sqlite3* db_ = nullptr;
    sqlite3_stmt* insert_ = nullptr;
    sqlite3_stmt* remove_ = nullptr;
    sqlite3_stmt* set_next_ = nullptr;
};

} // namespace courier::detail
