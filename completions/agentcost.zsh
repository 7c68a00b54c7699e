#compdef agentcost

_agentcost_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _AGENTCOST_COMPLETE=complete_zsh agentcost)
}

compdef _agentcost_completion agentcost
