//! Default formatting (`Out-Default`, `Format-Table`, `Format-List`,
//! `Out-String`) as powershell.exe prints to a redirected stdout.
