-- wrk script for bench/scan_api.py: sampling devices posting scans of distinct residents into
-- tubes of ten, with a device token. Arguments (after `--`): token, round code, residents file
-- (one id a line), number of wrk threads, connections per thread. Thread k takes lines k, k + n,
-- k + 2n, ... A tube is filled by one sampler at a time, as at a sampling site: consecutive
-- requests of a thread go to as many different tubes as it has connections, so that two scans
-- of one tube are seldom in flight together (they would queue on the tube's row lock).
-- Two more arguments, optional (bench/backpressure.py): the first line of the file to take, and a
-- tag that keeps this run's tubes and client keys apart from another run's in the same round.
-- At the end prints one line `RESULT {json}`: latency percentiles (microseconds), statuses (503
-- counted apart, with whether each carried Retry-After).

local threads = {}
local next_id = 0

function setup(thread)
    thread:set("id", next_id)
    next_id = next_id + 1
    table.insert(threads, thread)
end

function init(args)
    token, code, path, nthreads, slots = args[1], args[2], args[3], tonumber(args[4]), tonumber(args[5])
    first, tag = tonumber(args[6] or "0"), args[7] or ""
    residents = {}
    local line_no = 0
    for line in io.lines(path) do
        if line_no >= first and (line_no - first) % nthreads == id then
            residents[#residents + 1] = line
        end
        line_no = line_no + 1
    end
    sent, created, other, refused, bare, first_error = 0, 0, 0, 0, 0, ""
    headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

function request()
    sent = sent + 1
    local body = string.format(
        '{"round":"%s","resident_id":%s,"tube":"%s-%s-%d","client_key":"%s-%d-%d"}',
        code, residents[(sent - 1) % #residents + 1], code .. tag, id .. "-" .. ((sent - 1) % slots),
        math.floor((sent - 1) / (10 * slots)), code .. tag, id, sent
    )
    return wrk.format("POST", "/api/v1/testing/scans", headers, body)
end

function response(status, headers, body)
    if status == 201 then
        created = created + 1
    else
        other = other + 1
        if status == 503 then
            refused = refused + 1
            if headers["Retry-After"] == nil and headers["retry-after"] == nil then
                bare = bare + 1
            end
        end
        if first_error == "" then
            first_error = status .. " " .. string.sub(body, 1, 200)
        end
    end
end

function done(summary, latency, requests)
    local created_all, other_all, refused_all, bare_all, errors = 0, 0, 0, 0, {}
    for _, thread in ipairs(threads) do
        created_all = created_all + thread:get("created")
        other_all = other_all + thread:get("other")
        refused_all = refused_all + thread:get("refused")
        bare_all = bare_all + thread:get("bare")
        local e = thread:get("first_error")
        if e ~= "" then
            errors[#errors + 1] = '"' .. string.gsub(e, '[%c"\\]', " ") .. '"'
        end
    end
    local e = summary.errors
    io.write(string.format(
        'RESULT {"requests": %d, "duration_us": %d, "created": %d, "other_status": %d, '
            .. '"status_503": %d, "status_503_without_retry_after": %d, "socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
            .. '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %d, "first_errors": [%s]}\n',
        summary.requests, summary.duration, created_all, other_all, refused_all, bare_all,
        e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean,
        table.concat(errors, ", ")
    ))
end
