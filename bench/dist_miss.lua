-- wrk script for bench/composer_tags.sh: each request asks for the zip of another commit of
-- acme/tags that nobody published, as a client holding a read token may.
math.randomseed(os.time())
request = function()
    local t = {}
    for i = 1, 40 do t[i] = string.format("%x", math.random(0, 15)) end
    return wrk.format("GET", "/dist/acme/tags/" .. table.concat(t) .. ".zip")
end
