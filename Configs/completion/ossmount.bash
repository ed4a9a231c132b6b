# bash completion for ossmount: subcommands, flags and -o option names.
_ossmount() {
    local cur prev words cword
    _init_completion -n = 2>/dev/null || { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; }
    local options="@OPTIONS@"
    if [ "$prev" = "-o" ] || [[ "$cur" == -o* && "$cur" != "-o" ]]; then
        local typed=${cur#-o} prefix=""
        [[ "$typed" == *,* ]] && prefix=${typed%,*}, && typed=${typed##*,}
        COMPREPLY=($(compgen -W "$options" -P "${cur%%$typed}" -- "$typed"))
        compopt -o nospace 2>/dev/null
        return
    fi
    case "$prev" in
        -c|--config) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    if [ "$cword" -eq 1 ] 2>/dev/null || [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "mount uploads --help --version --print-config" -- "$cur"))
        COMPREPLY+=($(compgen -d -- "$cur"))
        return
    fi
    if [ "${COMP_WORDS[1]}" = "uploads" ] && [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=($(compgen -W "list abort" -- "$cur")); return
    fi
    COMPREPLY=($(compgen -W "-o -f -c --config --print-config --older-than --all" -- "$cur"))
    COMPREPLY+=($(compgen -d -- "$cur"))
}
complete -F _ossmount ossmount
