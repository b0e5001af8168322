-- wrk script for bench/codes.py: venues checking health codes by token. Arguments (after `--`):
-- the header of a code_checker's credentials (`Authorization: Bearer ...` or `Cookie: ...`), the tokens file (one a line), the number of wrk
-- threads. Thread k takes lines k, k + n, ... and goes round them. At the end prints one line
-- `RESULT {json}`: latency percentiles (microseconds), answers by colour, 503s (busy) and how many
-- of them said Retry-After, other statuses.

local threads = {}
local next_id = 0

function setup(thread)
    thread:set("id", next_id)
    next_id = next_id + 1
    table.insert(threads, thread)
end

function init(args)
    credentials, path, nthreads = args[1], args[2], tonumber(args[3])
    tokens = {}
    local line_no = 0
    for line in io.lines(path) do
        if line_no % nthreads == id then
            tokens[#tokens + 1] = line
        end
        line_no = line_no + 1
    end
    sent, ok, red, yellow, green, other, first_error = 0, 0, 0, 0, 0, 0, ""
    busy, busy_retry_after = 0, 0
    local name, value = string.match(credentials, "^([^:]+): (.*)$")
    headers = { [name] = value }
end

function request()
    sent = sent + 1
    local token = tokens[(sent - 1) % #tokens + 1]
    return wrk.format("GET", "/api/v1/codes/check/" .. token, headers)
end

function response(status, headers, body)
    if status == 200 then
        ok = ok + 1
        local colour = string.match(body, '"colour": ?"(%a+)"')
        if colour == "red" then red = red + 1
        elseif colour == "yellow" then yellow = yellow + 1
        elseif colour == "green" then green = green + 1 end
    elseif status == 503 then
        busy = busy + 1
        if headers["Retry-After"] or headers["retry-after"] then
            busy_retry_after = busy_retry_after + 1
        end
    else
        other = other + 1
        if first_error == "" then
            first_error = status .. " " .. string.sub(body, 1, 200)
        end
    end
end

function done(summary, latency, requests)
    local ok_all, other_all, red_all, yellow_all, green_all, errors = 0, 0, 0, 0, 0, {}
    local busy_all, busy_retry_after_all = 0, 0
    for _, thread in ipairs(threads) do
        ok_all = ok_all + thread:get("ok")
        other_all = other_all + thread:get("other")
        red_all = red_all + thread:get("red")
        yellow_all = yellow_all + thread:get("yellow")
        green_all = green_all + thread:get("green")
        busy_all = busy_all + thread:get("busy")
        busy_retry_after_all = busy_retry_after_all + thread:get("busy_retry_after")
        local e = thread:get("first_error")
        if e ~= "" then
            errors[#errors + 1] = '"' .. string.gsub(e, '[%c"\\]', " ") .. '"'
        end
    end
    local e = summary.errors
    io.write(string.format(
        'RESULT {"requests": %d, "duration_us": %d, "ok": %d, "other_status": %d, '
            .. '"colours": {"red": %d, "yellow": %d, "green": %d}, '
            .. '"busy": %d, "busy_with_retry_after": %d, '
            .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
            .. '"p50_us": %d, "p99_us": %d, "max_us": %d, "first_errors": [%s]}\n',
        summary.requests, summary.duration, ok_all, other_all, red_all, yellow_all, green_all,
        busy_all, busy_retry_after_all,
        e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(99), latency.max,
        table.concat(errors, ", ")
    ))
end
