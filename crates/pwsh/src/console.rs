//! powershell.exe's console: a script's streams as the process prints them
//! when stdout and stderr are redirected (what a WinRM cmd shell reads).
