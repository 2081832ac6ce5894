# bash completion for lamina, the Lamina CLI.
# Commands and their sub-verbs come from `lamina --help` itself, so the
# completion follows the binary it completes; flags come from
# `lamina COMMAND --help`.
_lamina_help() {
    local bin=${COMP_WORDS[0]}
    "$bin" "$@" --help 2>&1
}

_lamina() {
    local cur=${COMP_WORDS[COMP_CWORD]} cmd="" i
    # the first word after the global options is the command
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        --state | --endpoint | -o) ((i++)) ;;
        -*) ;;
        *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done
    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "--state --endpoint -o --help" -- "$cur"))
        else
            local cmds
            cmds=$(_lamina_help | sed -n '/^commands:/,/^$/{s/^  \([a-z-]*\).*/\1/p}')
            COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
        fi
        return
    fi
    local line verbs flags
    line=$(_lamina_help | sed -n "s/^  $cmd \([a-z|-]*\).*/\1/p")
    if ((COMP_CWORD == i + 1)) && [[ $line == *"|"* ]] && [[ $cur != -* ]]; then
        verbs=${line//|/ }
        COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
        return
    fi
    if [[ $cur == -* ]]; then
        flags=$(_lamina_help "$cmd" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _lamina lamina
