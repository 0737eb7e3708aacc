//go:build soak && race

package main

const soakRace = true
