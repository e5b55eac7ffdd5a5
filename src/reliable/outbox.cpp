#include "reliable/outbox.hpp"

#include "courier/error.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <optional>
#include <string>

namespace courier::detail {

outbox::outbox(const std::filesystem::path& path, bool fsync_each) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
        std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw error(errc::storage, "outbox '" + path.string() + "': " + why);
    }
    try {
        sqlite3_busy_timeout(db_, 5000);
        exec("PRAGMA journal_mode=WAL");
        exec(fsync_each ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)");
        exec("CREATE TABLE IF NOT EXISTS tasks(seq INTEGER PRIMARY KEY, frame BLOB NOT NULL)");
        if (sqlite3_prepare_v2(db_, "INSERT INTO tasks(seq, frame) VALUES(?, ?)", -1, &insert_, nullptr) != SQLITE_OK ||
            sqlite3_prepare_v2(db_, "DELETE FROM tasks WHERE seq = ?", -1, &remove_, nullptr) != SQLITE_OK ||
            sqlite3_prepare_v2(db_,
                               "INSERT INTO meta(key, value) VALUES('next', ?) "
                               "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
                               -1, &set_next_, nullptr) != SQLITE_OK)
            fail("prepare");
    } catch (...) {
        sqlite3_finalize(insert_);
        sqlite3_finalize(remove_);
        sqlite3_finalize(set_next_);
        sqlite3_close(db_);
        throw;
    }
}

outbox::~outbox() {
    sqlite3_finalize(insert_);
    sqlite3_finalize(remove_);
    sqlite3_finalize(set_next_);
    sqlite3_close(db_);
}

void outbox::fail(const char* what) {
    throw error(errc::storage, std::string("outbox ") + what + ": " + sqlite3_errmsg(db_));
}

void outbox::exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string why = message ? message : "unknown";
        sqlite3_free(message);
        throw error(errc::storage, std::string("outbox: ") + sql + ": " + why);
    }
}

outbox::restored outbox::restore(std::uint64_t fresh_id) {
    std::lock_guard lock(mu_);
    restored r;
    exec("BEGIN IMMEDIATE");
    try {
        sqlite3_stmt* s = nullptr;
        auto read_meta = [&](const char* key) -> std::optional<std::int64_t> {
            if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = ?", -1, &s, nullptr) != SQLITE_OK)
                fail("read meta");
            sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
            std::optional<std::int64_t> v;
            if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
            sqlite3_finalize(s);
            return v;
        };
        if (auto id = read_meta("producer"); id && *id != 0) {
            r.producer_id = static_cast<std::uint64_t>(*id);
        } else {
            r.producer_id = fresh_id;
            if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES('producer', ?)", -1, &s,
                                   nullptr) != SQLITE_OK)
                fail("write meta");
            sqlite3_bind_int64(s, 1, static_cast<std::int64_t>(r.producer_id));
            const bool ok = sqlite3_step(s) == SQLITE_DONE;
            sqlite3_finalize(s);
            if (!ok) fail("write producer id");
        }
        if (auto next = read_meta("next")) r.next_sequence = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(*next));
        if (sqlite3_prepare_v2(db_, "SELECT seq, frame FROM tasks ORDER BY seq", -1, &s, nullptr) != SQLITE_OK)
            fail("read tasks");
        while (sqlite3_step(s) == SQLITE_ROW) {
            const auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
            const auto* p = static_cast<const std::byte*>(sqlite3_column_blob(s, 1));
            const auto n = static_cast<std::size_t>(sqlite3_column_bytes(s, 1));
            r.tasks.emplace_back(seq, std::vector<std::byte>(p, p + n));
            r.next_sequence = std::max(r.next_sequence, seq + 1);
        }
        sqlite3_finalize(s);
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    return r;
}

void outbox::insert(std::uint64_t seq, std::span<const std::byte> frame) {
    std::lock_guard lock(mu_);
    sqlite3_reset(insert_);
    sqlite3_bind_int64(insert_, 1, static_cast<std::int64_t>(seq));
    sqlite3_bind_blob(insert_, 2, frame.data(), static_cast<int>(frame.size()), SQLITE_STATIC);
    const bool ok = sqlite3_step(insert_) == SQLITE_DONE;
    sqlite3_clear_bindings(insert_);
    if (!ok) fail("insert");
}

void outbox::remove(std::span<const std::uint64_t> seqs) {
    if (seqs.empty()) return;
    std::lock_guard lock(mu_);
    exec("BEGIN IMMEDIATE");
    try {
        for (auto seq : seqs) {
            sqlite3_reset(remove_);
            sqlite3_bind_int64(remove_, 1, static_cast<std::int64_t>(seq));
            if (sqlite3_step(remove_) != SQLITE_DONE) fail("remove");
        }
        sqlite3_reset(set_next_);
        sqlite3_bind_int64(set_next_, 1, static_cast<std::int64_t>(*std::max_element(seqs.begin(), seqs.end()) + 1));
        if (sqlite3_step(set_next_) != SQLITE_DONE) fail("remember next sequence");
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

} // namespace courier::detail
