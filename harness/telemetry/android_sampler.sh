# Telemetry sampler that runs ON an Android phone, in the background, under /system/bin/sh (mksh)
# with toybox utilities. POSIX sh only: no arrays, no [[ ]], no $'...', no GNU-only flags.
# Files are read with the `read` builtin, so a fast reading forks nothing; only `sleep` and the
# slow readings (dumpsys) fork.
#
# usage: sh android_sampler.sh OUT STOP INTERVAL_S SLOW_EVERY PS_DIR TZ_DIR ODPM THERMALSERVICE LEASE PIDFILE OWNER
#        [CPUFREQ]
#   OUT             file the readings are written to (pulled by the host afterwards)
#   STOP            the sampler takes a last full reading and exits once this file exists; when it exists
#                   already at the start, the first full reading is the only one (a snapshot)
#   INTERVAL_S      seconds between fast readings (power_supply), e.g. 0.1
#   SLOW_EVERY      every Nth reading also reads thermal zones and the dumpsys sources
#   PS_DIR          power_supply directory, e.g. /sys/class/power_supply/battery
#   TZ_DIR          thermal class directory (/sys/class/thermal), or - for none
#   ODPM            1 to read `dumpsys android.hardware.power.stats.IPowerStats/default`
#   THERMALSERVICE  1 to read `dumpsys thermalservice`
#   LEASE           file holding a deadline in whole seconds of /proc/uptime; the host keeps moving it on
#                   while it samples. Once uptime passes the last deadline read, the sampler writes
#                   "@expired" and exits by itself: a harness that was killed leaves no sampler behind
#                   for longer than one lease. A missing or unreadable file keeps the deadline last read.
#                   Empty or - : no lifetime bound (only for running the script by hand).
#   PIDFILE         gets "PID OWNER" while the sampler runs (removed when it ends by itself), so a later
#                   session can kill one that outlived its host; empty or - : none
#   OWNER           who started it (host:pid), for that file
#   CPUFREQ         cpufreq directory (/sys/devices/system/cpu/cpufreq) whose policy* clocks are read with the
#                   slow readings and governors once at the start; - or absent: none
#
# Output, one item per line: "@pid PID", "@h VERSION INTERVAL SLOW_EVERY", "@zone ZONE TYPE", "@t UPTIME_S",
# "@ps FILE VALUE", "@tz ZONE MILLIDEGREES", "@begin NAME" raw dumpsys lines "@end NAME" (`dumpsys battery`
# as "battery" at the first and last reading), "@gov POLICY GOVERNOR" once, "@cf POLICY KHZ" with each slow
# reading, "@ready" after the first full reading, "@stop" after the last
# one, or "@expired" when the lease ran out.

out=$1
stop=$2
interval=$3
slow_every=$4
ps_dir=$5
tz_dir=$6
odpm=$7
thermalsvc=$8
lease=$9
pidfile=${10}
owner=${11}
cpufreq=${12:--}
deadline=0

ps_files=
for f in current_now voltage_now charge_counter temp capacity status; do
	if [ -r "$ps_dir/$f" ]; then
		ps_files="$ps_files $f"
	fi
done
# entries DIR PATTERN FILE: the names of DIR's entries matching PATTERN that have a readable FILE (DIR - : none)
entries() {
	if [ "$1" != - ]; then
		for e in "$1"/$2; do
			if [ -r "$e/$3" ]; then
				echo "${e##*/}"
			fi
		done
	fi
}
zones=$(entries "$tz_dir" 'thermal_zone*' temp)
policies=$(entries "$cpufreq" 'policy*' scaling_cur_freq)

stamp() {
	read -r up idle < /proc/uptime
	echo "@t $up"
}

fast() {
	stamp
	for f in $ps_files; do
		if read -r v < "$ps_dir/$f"; then
			echo "@ps $f $v"
		fi
	done
}

block() {
	echo "@begin $1"
	shift
	"$@" 2>&1
	echo "@end"
}

slow() {
	stamp
	for z in $zones; do
		if read -r v < "$tz_dir/$z/temp"; then
			echo "@tz $z $v"
		fi
	done
	for p in $policies; do
		if read -r v < "$cpufreq/$p/scaling_cur_freq"; then
			echo "@cf $p $v"
		fi
	done
	if [ "$thermalsvc" = 1 ]; then
		block thermalservice dumpsys thermalservice
	fi
	if [ "$odpm" = 1 ]; then
		block odpm dumpsys android.hardware.power.stats.IPowerStats/default
	fi
}

forget() {
	if [ -n "$pidfile" ]; then
		rm -f "$pidfile"
	fi
}

renewed() {
	if [ -z "$lease" ] || [ "$lease" = - ]; then
		return 0
	fi
	if read -r d < "$lease"; then
		case $d in
		'' | *[!0-9]*) ;;
		*) deadline=$d ;;
		esac
	fi
	[ "${up%%.*}" -lt "$deadline" ]
}

once=0
if [ -e "$stop" ]; then
	once=1
fi
exec > "$out" 2>/dev/null
if [ "$pidfile" = - ]; then
	pidfile=
fi
if [ -n "$pidfile" ]; then
	echo "$$ $owner" > "$pidfile"
fi
echo "@pid $$"
echo "@h 1 $interval $slow_every"
for z in $zones; do
	if read -r ty < "$tz_dir/$z/type"; then
		echo "@zone $z $ty"
	fi
done
for p in $policies; do
	if read -r g < "$cpufreq/$p/scaling_governor"; then
		echo "@gov $p $g"
	fi
done
fast
slow
block battery dumpsys battery
echo "@ready"
if [ "$once" = 0 ]; then
	n=1
	while [ ! -e "$stop" ]; do
		sleep "$interval"
		fast
		if [ $((n % slow_every)) -eq 0 ]; then
			slow
		fi
		if ! renewed; then
			echo "@expired"
			forget
			exit 0
		fi
		n=$((n + 1))
	done
	fast
	slow
	block battery dumpsys battery
fi
echo "@stop"
forget
