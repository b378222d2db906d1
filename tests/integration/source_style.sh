# source_style.sh -- the sources stay in the project's shape: every C file formatted as
# .clang-format says, every Lua script (run inside Redis, so only checked at run time
# otherwise) valid Lua 5.1, the version Redis embeds. Each check shows its tool a broken
# copy too, which it must refuse, so a check that cannot fail is caught.
# Not run under the sanitizers: it runs none of our programs.
. tests/integration/lib.sh

if ! command -v clang-format >/dev/null; then
    echo "skip sources_formatted: clang-format not installed (Debian package clang-format)"
else
    unformatted=$(git ls-files '*.c' '*.h' 2>/dev/null | while read -r f; do
        clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"; done)
    printf 'int  main( void ){return 0;}\n' >"$T/bad.c"
    if [ -z "$(git ls-files '*.c' 2>/dev/null | head -n 1)" ]; then
        fail sources_formatted "no C sources listed by git (not a checkout?)"
    elif [ -n "$unformatted" ]; then
        fail sources_formatted "not as .clang-format says (clang-format -i them):$(printf ' %s' $unformatted)"
    elif clang-format --style=file:.clang-format --dry-run -Werror "$T/bad.c" 2>/dev/null; then
        fail sources_formatted "clang-format accepted a badly formatted file"
    else
        pass sources_formatted
    fi
fi

LUAC=$(command -v luac5.1 || command -v luac || true)
if [ -z "$LUAC" ]; then
    echo "skip lua_scripts_parse: luac not installed (Debian package lua5.1)"
else
    bad=""
    for f in $(git ls-files '*.lua'); do
        "$LUAC" -p "$f" 2>"$T/luac.err" || bad="$bad $(cat "$T/luac.err")"
    done
    printf 'if redis.call(\n' >"$T/bad.lua"
    if [ -z "$(git ls-files '*.lua')" ]; then
        fail lua_scripts_parse "no .lua files found"
    elif [ -n "$bad" ]; then
        fail lua_scripts_parse "$bad"
    elif "$LUAC" -p "$T/bad.lua" 2>/dev/null; then
        fail lua_scripts_parse "luac accepted a broken script"
    else
        pass lua_scripts_parse
    fi
fi
