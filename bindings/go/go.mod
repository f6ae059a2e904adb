module libaphelion/aphelion

go 1.19
